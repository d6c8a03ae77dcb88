-- wrk: durable key creation (POST /v1/keys, AES-128, unique names per thread and request).
-- Environment: KMS_TOKEN.
local token = os.getenv("KMS_TOKEN")
local counter = 0
local tid = 0
local threads = {}

setup = function(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local body = string.format('{"name":"bench-%d-%d-%d","algorithm":"AES-128","usage":["mac"]}',
                             tid, counter, math.random(1, 1000000000))
  return wrk.format("POST", "/v1/keys",
                    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
                    body)
end
