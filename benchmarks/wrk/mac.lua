-- wrk: AES-CMAC of 16 bytes through kmsd (POST /v1/keys/{id}/mac), HTTPS keep-alive.
-- Environment: KMS_TOKEN (bearer token), KMS_KEY (key id).
local token = os.getenv("KMS_TOKEN")
local key = os.getenv("KMS_KEY")
wrk.method = "POST"
wrk.path = "/v1/keys/" .. key .. "/mac"
wrk.body = '{"algorithm":"AES-CMAC","data":"00112233445566778899AABBCCDDEEFF"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
