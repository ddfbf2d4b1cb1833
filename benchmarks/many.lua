-- wrk -s benchmarks/many.lua URL -- COOKIE_FILE (benchmarks/encryption_http.py --sessions N)
--
-- Each request carries the next of the file's cookies (one per line, round robin), so every
-- request reads or writes another session: a process serving more sessions than it keeps in
-- any memory of its own (the cookie check's, the id hash's, the cipher's remembered opens).
local cookies = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      table.insert(cookies, line)
    end
  end
  i = math.random(#cookies)
end

function request()
  i = i % #cookies + 1
  return wrk.format(nil, nil, { ["Cookie"] = cookies[i] })
end
