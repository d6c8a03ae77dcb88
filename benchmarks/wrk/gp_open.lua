-- wrk: SCP03 session open through kmsd = POST /v1/gp/scp/sessions (create) followed by
-- POST /v1/gp/scp/sessions/{id}/authenticate, optionally DELETE /v1/gp/scp/sessions/{id}.
-- The session is pySim SCP03_Test_AES128_33 (tests/vectors/gp_scp03.txt): with the fixed host
-- challenge the card's INITIALIZE UPDATE response is a constant, so no card crypto runs here.
-- Each wrk thread keeps a queue of created session ids; request() authenticates a queued one
-- when there is one, else closes an authenticated one (GP_CLOSE=1), else creates a session.
-- Completed session opens = authenticate answers 200.
-- Environment: GP_TOKEN (plugin principal), GP_ENC, GP_MAC, GP_DEK (key ids), GP_CLOSE (0/1).
local token = os.getenv("GP_TOKEN")
local close = os.getenv("GP_CLOSE") == "1"
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
local create_body = string.format(
  '{"protocol":"SCP03","i":"70","keys":{"enc":"%s","mac":"%s","dek":"%s"},"keyVersion":48,' ..
  '"hostChallenge":"FDF38259A1E0DE44","aid":"A0000005591010FFFFFFFF8900000100"}',
  os.getenv("GP_ENC"), os.getenv("GP_MAC"), os.getenv("GP_DEK"))
local auth_body = '{"initializeUpdateResponse":' ..
  '"000000000000000000003003703B1ACA81E821F219081CDC01C26B372D0000039000","securityLevel":"33"}'
local expected_ea = "84823300108C36F96BCC00724A4E13AD591D7DA3F0"

local threads = {}
setup = function(thread) table.insert(threads, thread) end

-- Per thread (each wrk thread has its own Lua state): globals, read back in done().
created, opened, closed, failed, wrong = 0, 0, 0, 0, 0
local to_auth, to_close = {}, {}
local a_head, a_tail, c_head, c_tail = 1, 0, 1, 0
-- GP_CLOSE=1: authenticate answers carry no session id, so each 200 releases the oldest
-- session sent to authenticate for closing (answers on one thread come back nearly in order;
-- a DELETE overtaking its authenticate would show up as a 404 in gp_failed).
local in_auth, p_head, p_tail = {}, 1, 0

request = function()
  if a_head <= a_tail then
    local id = to_auth[a_head]; to_auth[a_head] = nil; a_head = a_head + 1
    if close then p_tail = p_tail + 1; in_auth[p_tail] = id end
    return wrk.format("POST", "/v1/gp/scp/sessions/" .. id .. "/authenticate", headers, auth_body)
  end
  if c_head <= c_tail then
    local id = to_close[c_head]; to_close[c_head] = nil; c_head = c_head + 1
    return wrk.format("DELETE", "/v1/gp/scp/sessions/" .. id, headers, nil)
  end
  return wrk.format("POST", "/v1/gp/scp/sessions", headers, create_body)
end

response = function(status, hdrs, body)
  if status == 201 then
    local id = body:match('"session"%s*:%s*"(s%-%x+)"')
    created = created + 1
    a_tail = a_tail + 1; to_auth[a_tail] = id
  elseif status == 200 then
    local ea = body:match('"externalAuthenticate"%s*:%s*"(%x+)"')
    if ea then
      opened = opened + 1
      if ea ~= expected_ea then wrong = wrong + 1 end
      if close and p_head <= p_tail then
        local id = in_auth[p_head]; in_auth[p_head] = nil; p_head = p_head + 1
        c_tail = c_tail + 1; to_close[c_tail] = id
      end
    else
      closed = closed + 1
    end
  else
    failed = failed + 1
    if failed <= 3 then io.stderr:write("gp_open: HTTP " .. status .. " " .. body .. "\n") end
  end
end

done = function(summary, latency, requests)
  local c, o, d, f, w = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); o = o + t:get("opened"); d = d + t:get("closed")
    f = f + t:get("failed"); w = w + t:get("wrong")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("gp_created %d\ngp_opened %d\ngp_closed %d\ngp_failed %d\n", c, o, d, f))
  io.write(string.format("gp_wrong_external_authenticate %d\n", w))
  io.write(string.format("gp_sessions_per_s %.0f\n", o / secs))
end
