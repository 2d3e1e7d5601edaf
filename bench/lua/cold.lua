-- Cold-path mode for wrk: every request carries a different valid token.
-- TOKENS_FILE names a file of tokens, one per line (bench-idp writes cold-<ALG>.txt).
-- The requests are formatted once per wrk thread in init(), so the per-request cost on
-- the load side is one table lookup. If a run needs more requests than there are
-- tokens, the list wraps around (later requests then repeat tokens, which a cache
-- would serve); done() prints how many tokens were used so run.sh can flag that.

-- n, i and wrapped are globals so that done() can read them with thread:get().
local reqs = {}
n, i, wrapped = 0, 0, 0

function init(args)
  local path = os.getenv("TOKENS_FILE")
  assert(path, "TOKENS_FILE is not set")
  for line in io.lines(path) do
    n = n + 1
    reqs[n] = wrk.format("GET", "/hello", { ["Authorization"] = "Bearer " .. line })
  end
  assert(n > 0, "no tokens in " .. path)
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wrapped = wrapped + 1
  end
  return reqs[i]
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local used, wraps = 0, 0
  for _, t in ipairs(threads) do
    used = used + t:get("i") + t:get("wrapped") * t:get("n")
    wraps = wraps + t:get("wrapped")
  end
  io.write(string.format("cold_requests_sent=%d cold_wraps=%d\n", used, wraps))
end
