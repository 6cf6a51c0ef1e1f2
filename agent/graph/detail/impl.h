#pragma once
// graph_client's private state (private header): the retry loop, the token source and the Graph
// request layer on top of both, wired to the client's options and counters.
#include "agent/graph/detail/graph_requests.h"
#include "agent/graph/detail/token_source.h"
#include "agent/graph/detail/transport.h"
#include "agent/graph/graph_client.h"

namespace connguard::graph {

struct graph_client::impl {
    impl(const graph_client_options& o, const connguard::clock& clk, request_counters& counters)
        : transport(o, counters), tokens(o, clk, transport), requests(o, transport, tokens) {}

    detail::transport transport;
    detail::token_source tokens;
    detail::graph_requests requests;
};

}  // namespace connguard::graph
