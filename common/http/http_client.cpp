// libcurl implementation of the HTTP client contract (common/http/http_client.h).
#include "common/http/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "common/text.h"

namespace connguard::http {

namespace {

std::once_flag curl_init_once;

void global_init() {
    std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return std::string(s);
}

/// The URL without its query string: error messages must not carry query secrets.
std::string url_for_message(const std::string& url) {
    const auto q = url.find('?');
    return q == std::string::npos ? url : url.substr(0, q);
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* out = static_cast<std::string*>(user);
    out->append(data, size * count);
    return size * count;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto* cancelled = static_cast<const std::function<bool()>*>(user);
    try {
        return (*cancelled)() ? 1 : 0;  // non-zero aborts with CURLE_ABORTED_BY_CALLBACK
    } catch (...) {
        return 0;
    }
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* out = static_cast<header_list*>(user);
    std::string_view line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        out->clear();  // a new response head (after 100 Continue or a redirect)
        return size * count;
    }
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) out->emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    return size * count;
}

std::string error_code_for(CURLcode rc) {
    switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            return "http.timeout";
        case CURLE_ABORTED_BY_CALLBACK:
            return "http.cancelled";
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            return "http.connect";
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            return "http.reset";
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
            return "http.tls";
        default:
            return "http.network";
    }
}

}  // namespace

std::string response::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

struct client::impl {
    CURL* curl = nullptr;
};

client::client() : impl_(std::make_unique<impl>()) {
    global_init();
    impl_->curl = curl_easy_init();
}

client::~client() {
    if (impl_ && impl_->curl) curl_easy_cleanup(impl_->curl);
}

void client::close_connections() {
    if (!impl_) return;
    if (impl_->curl) curl_easy_cleanup(impl_->curl);
    impl_->curl = curl_easy_init();
}

result<response> client::perform(const request& req) {
    const std::string where = req.method + " " + url_for_message(req.url);
    CURL* curl = impl_->curl;
    if (!curl) return make_error("http.network", where + ": libcurl could not create a handle");
    curl_easy_reset(curl);
    if (req.cancelled && req.cancelled()) return make_error("http.cancelled", where + ": cancelled before it was sent");

    response resp;
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    bool has_expect = false;
    for (const auto& [k, v] : req.headers) {
        if (iequals(k, "Expect")) has_expect = true;
        headers = curl_slist_append(headers, (k + ": " + v).c_str());
    }
    if (!has_expect) headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip

    curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long long>(req.timeout.count(), 10000)));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp.headers);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!req.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, req.ca_file.c_str());
    if (req.cancelled) {
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &req.cancelled);
    }

    if (req.method == "GET") {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (req.method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        if (req.method == "POST") {
            curl_easy_setopt(curl, CURLOPT_POST, 1L);
        } else {
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
        }
        if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.c_str());
        }
    }

    const CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
        // libcurl's message can repeat the URL; strip a query string if it does.
        if (const auto q = detail.find('?'); q != std::string::npos) detail = detail.substr(0, q);
        return make_error(error_code_for(rc), where + ": " + detail);
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
    return resp;
}

std::string url_encode(std::string_view value) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size() * 3);
    for (const unsigned char c : value) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0x0f]);
        }
    }
    return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string out;
    for (const auto& [k, v] : fields) {
        if (!out.empty()) out.push_back('&');
        out += url_encode(k);
        out.push_back('=');
        out += url_encode(v);
    }
    return out;
}

}  // namespace connguard::http
