#include "coordinator/console/oidc_provider.h"

#include <mutex>

namespace connguard::coord::console {
namespace {

class oidc_provider final : public identity_provider {
public:
    explicit oidc_provider(oidc_settings s) : client_(std::move(s), http_) {}

    result<sign_in_start> begin(const std::string& redirect_uri, std::optional<int> max_age) override {
        std::lock_guard lock(mu_);
        if (auto st = discovered(); !st) return st.err();
        return client_.begin(redirect_uri, max_age);
    }
    result<id_token_claims> finish(const std::string& code, const pending_sign_in& pending, std::int64_t now_s) override {
        std::lock_guard lock(mu_);
        if (auto st = discovered(); !st) return st.err();
        return client_.finish(code, pending, now_s);
    }

private:
    status discovered() {
        if (discovered_) return {};
        if (auto st = client_.discover(); !st) return st;
        discovered_ = true;
        return {};
    }
    std::mutex mu_;
    http::client http_;
    oidc_client client_;
    bool discovered_ = false;
};

}  // namespace

std::unique_ptr<identity_provider> make_oidc_provider(oidc_settings s) {
    return std::make_unique<oidc_provider>(std::move(s));
}

}  // namespace connguard::coord::console
