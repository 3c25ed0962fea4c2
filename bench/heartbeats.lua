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

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "errors": %d}\n',
    summary.requests,
    summary.duration / 1e6,
    latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout
  ))
end
