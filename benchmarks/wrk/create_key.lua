-- wrk: durable key creation (POST /v1/keys, AES-128, a unique name per request).
-- Environment: KMS_TOKEN. Each wrk thread has its own Lua state: setup() gives each one a
-- distinct thread number (a global, set with thread:set), and names carry it and a counter.
local token = os.getenv("KMS_TOKEN")
local next_thread = 0
local counter = 0
local run = os.time()

setup = function(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
end

request = function()
  counter = counter + 1
  local body = string.format('{"name":"bench-%d-%d-%d","algorithm":"AES-128","usage":["mac"]}',
                             run, thread_no, counter)
  return wrk.format("POST", "/v1/keys",
                    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
                    body)
end
