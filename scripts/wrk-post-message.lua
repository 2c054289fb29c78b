-- wrk script: POST a message to one of many conversations, round robin.
-- CONVERSATIONS names a file with one conversation id per line; KEY is an
-- API key. Used by scripts/bench-messages.
local ids = {}
local key = os.getenv("KEY")
local next_index = 1

function init(args)
  for line in io.lines(os.getenv("CONVERSATIONS")) do
    ids[#ids + 1] = line
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  next_index = math.random(#ids)
end

function request()
  next_index = next_index % #ids + 1
  return wrk.format("POST", "/api/v1/playground/conversations/" .. ids[next_index] .. "/messages",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key },
    '{"content": "the quick brown fox jumps over the lazy dog"}')
end
