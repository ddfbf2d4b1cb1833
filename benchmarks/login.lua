-- wrk -s benchmarks/login.lua URL -- USER_PREFIX POOL (benchmarks/lifetime_http.py, issue 21)
--
-- A login as a browser makes one: GET /anon starts the anonymous session (the login page),
-- then POST /login?user=... brings its cookie and signs it in (cycle_id, user_id set). wrk
-- keeps no state per connection, so every answer of /anon queues its cookie and the next
-- request sent (on whichever connection) is the login that uses it, each cookie once. The
-- users come round-robin from a pool of POOL, so past the first POOL x cap logins every one
-- signs the least recently used session of its user out. done() prints the logins answered.
local prefix, pool = "user-", 10
local queue, head, tail = {}, 1, 0
local sent = 0
logins = 0 -- a global: done() reads it from the thread (thread:get)
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or prefix
  pool = tonumber(args[2] or pool)
end

function request()
  if head <= tail then
    local cookie = queue[head]
    queue[head] = nil
    head = head + 1
    sent = sent + 1
    local path = "/login?user=" .. prefix .. (sent % pool)
    return wrk.format("POST", path, { ["Cookie"] = cookie, ["Content-Length"] = "0" })
  end
  return wrk.format("GET", "/anon")
end

function response(status, headers, body)
  if body == "login" then
    logins = logins + 1
    return
  end
  local cookie = headers["set-cookie"] or headers["Set-Cookie"]
  if status == 200 and cookie then
    tail = tail + 1
    queue[tail] = cookie:match("^[^;]+")
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("logins")
  end
  io.write(string.format("logins: %d\n", total))
end
