#pragma once
// result<T>: a value or an error with context, for I/O and validation boundaries.
// (std::expected needs C++23; this is the small subset we use.)
#include <string>
#include <utility>
#include <variant>

namespace connguard {

/// An error: a short machine-readable code and a message for people that carries context
/// (which tenant, which file, which Graph call).
struct error {
    std::string code;     ///< e.g. "oversize", "config.missing_field", "graph.throttled"
    std::string message;  ///< e.g. "tenant contoso: GET /v1.0/identity/...: 429 after 5 retries"
};

template <class T>
class [[nodiscard]] result {
public:
    result(T value) : v_(std::move(value)) {}              // NOLINT(implicit)
    result(error e) : v_(std::move(e)) {}                  // NOLINT(implicit)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const connguard::error& err() const { return std::get<1>(v_); }

private:
    std::variant<T, connguard::error> v_;
};

/// result<void>
template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(error e) : err_(std::move(e)), ok_(false) {}  // NOLINT(implicit)
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const connguard::error& err() const { return err_; }

private:
    connguard::error err_;
    bool ok_ = true;
};

using status = result<void>;

inline error make_error(std::string code, std::string message) {
    return error{std::move(code), std::move(message)};
}

}  // namespace connguard
