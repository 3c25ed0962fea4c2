-- wrk script for the heartbeat benchmark: POST to each path of a file in turn (one path per
-- line, e.g. one agent's heartbeat), and print the figures as one JSON line at the end.
--   wrk -t2 -c64 -d5s -s bench/heartbeats.lua http://127.0.0.1:PORT -- paths.txt

local paths = {}
local next_path = 0

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  next_path = math.random(#paths)  -- threads start at different agents
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("POST", paths[next_path])
end

-- done(): the figures as one JSON line, from the file beside this one.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")
