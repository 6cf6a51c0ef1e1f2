#pragma once
// A test fixture with the project's real HTTP server (common/http/http_server.h) on 127.0.0.1 and
// a free port: the test answers every request in handle(), and reaches the server at base_.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "common/http/http_server.h"

namespace connguard::test {

class LoopbackServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<http::server>(http::server::options{},
                                                 [this](const http::server_request& r) { return handle(r); });
        auto st = server_->start();
        ASSERT_TRUE(st.ok()) << st.err().message;
        base_ = "http://127.0.0.1:" + std::to_string(server_->port());
    }
    void TearDown() override { server_->stop(); }

    virtual http::server_response handle(const http::server_request& r) = 0;

    std::unique_ptr<http::server> server_;
    std::string base_;
};

}  // namespace connguard::test
