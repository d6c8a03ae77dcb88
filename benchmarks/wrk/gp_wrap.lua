-- wrk: one 10-APDU script per call, POST /v1/gp/scp/sessions/{id}/wrap, round-robin over
-- authenticated SCP03 sessions (level 03: C-MAC and C-DECRYPTION on every command, as at 33,
-- but no R-MAC, so no command waits for an unwrap). The APDUs
-- are the pySim test commands (tests/vectors/gp_scp03.txt plain_1..5), twice.
-- Environment: GP_TOKEN, GP_SESSIONS (comma-separated ids; thread k of n takes every n-th one,
-- so two wrk threads never share a session). APDUs/s = answers 200 per second x 10.
local token = os.getenv("GP_TOKEN")
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
local plain = {"80E2910006BF3E035C015A00", "80F22002", "80CA006600",
               "80F220020A4F0212345C054F9F70C5", "80F28002024F0000"}
local list = {}
for i = 1, 10 do list[i] = '"' .. plain[(i - 1) % 5 + 1] .. '"' end
local body = '{"apdus":[' .. table.concat(list, ",") .. ']}'

local threads = {}
local next_thread = 0
setup = function(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
  table.insert(threads, thread)
end

ok, failed = 0, 0
local mine, n = nil, 0

init = function(args)
  local all = {}
  for id in string.gmatch(os.getenv("GP_SESSIONS"), "[^,]+") do table.insert(all, id) end
  local threads_total = tonumber(os.getenv("GP_WRK_THREADS") or "2")
  mine = {}
  for i, id in ipairs(all) do
    if (i - 1) % threads_total == thread_no - 1 then table.insert(mine, id) end
  end
end

request = function()
  n = n % #mine + 1
  return wrk.format("POST", "/v1/gp/scp/sessions/" .. mine[n] .. "/wrap", headers, body)
end

response = function(status, hdrs, b)
  if status == 200 then ok = ok + 1 else
    failed = failed + 1
    if failed <= 3 then io.stderr:write("gp_wrap: HTTP " .. status .. " " .. b .. "\n") end
  end
end

done = function(summary, latency, requests)
  local o, f = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); f = f + t:get("failed") end
  local secs = summary.duration / 1e6
  io.write(string.format("gp_wrap_calls %d\ngp_wrap_failed %d\n", o, f))
  io.write(string.format("gp_wrap_calls_per_s %.0f\ngp_apdus_per_s %.0f\n", o / secs, 10 * o / secs))
end
