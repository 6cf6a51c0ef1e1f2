#include "coordinator/audit_checkpoint.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <set>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "common/ids.h"

namespace connguard::coord::checkpoint {

namespace {

using google::protobuf::util::TimeUtil;

struct pkey_deleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;
struct bio_deleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;
struct md_ctx_deleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;

// Never prompt on a terminal for an encrypted key's passphrase: an encrypted key is refused.
int no_passphrase(char*, int, int, void*) { return 0; }

enum class pem_kind { private_key, public_key };

result<pkey_ptr> parse_pem(std::string_view pem, pem_kind kind) {
    const char* what = kind == pem_kind::private_key ? "private" : "public";
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return make_error("audit.key", "out of memory reading a key");
    pkey_ptr key(kind == pem_kind::private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                                               : PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr));
    ERR_clear_error();  // OpenSSL's queue would otherwise surface in an unrelated later call
    if (!key)
        return make_error("audit.key", std::string("not a PEM ") + what + " key (expected \"-----BEGIN " +
                                           (kind == pem_kind::private_key ? "PRIVATE" : "PUBLIC") +
                                           " KEY-----\"; an encrypted key is not supported)");
    if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519)
        return make_error("audit.key", std::string("the ") + what +
                                           " key is not an Ed25519 key (make one with: openssl genpkey -algorithm ed25519)");
    return key;
}

std::string key_id_of(EVP_PKEY* key) {
    unsigned char raw[64];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) return {};
    return sha256_hex(std::string(reinterpret_cast<const char*>(raw), len)).substr(0, 16);
}

std::string when(const google::protobuf::Timestamp& t) { return TimeUtil::ToString(t); }

std::string short_hash(const std::string& h) {
    if (h.size() <= 16) return h;
    // Built in place: substr(0, 16) + "…" trips GCC 12's -Wstringop-overread (a false positive).
    std::string s;
    s.reserve(32);
    s.append(h.data(), 16);
    s.append("\xe2\x80\xa6");  // …
    return s;
}

std::string describe(const v1::AuditCheckpoint& c) {
    return "the checkpoint of " + when(c.at()) + " by " + (c.coordinator_id().empty() ? "?" : c.coordinator_id());
}

}  // namespace

struct signing_key::impl {
    pkey_ptr key;
};
struct public_key::impl {
    pkey_ptr key;
};

result<signing_key> signing_key::from_pem(std::string_view pem) {
    auto key = parse_pem(pem, pem_kind::private_key);
    if (!key) return key.err();
    signing_key k;
    k.key_id_ = key_id_of(key->get());
    auto i = std::make_shared<impl>();
    i->key = std::move(*key);
    k.impl_ = std::move(i);
    return k;
}

std::string signing_key::public_key_pem() const {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->key.get()) != 1) return {};
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string signing_key::sign(std::string_view bytes) const {
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    unsigned char sig[64];
    std::size_t len = sizeof sig;
    // Ed25519 is "pure": no digest is named, the whole message goes to one EVP_DigestSign call.
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) != 1) {
        ERR_clear_error();
        return {};  // only on allocation failure; an empty signature never verifies
    }
    return std::string(reinterpret_cast<const char*>(sig), len);
}

result<public_key> public_key::from_pem(std::string_view pem) {
    auto key = parse_pem(pem, pem_kind::public_key);
    if (!key) return key.err();
    public_key k;
    k.key_id_ = key_id_of(key->get());
    auto i = std::make_shared<impl>();
    i->key = std::move(*key);
    k.impl_ = std::move(i);
    return k;
}

bool public_key::verifies(std::string_view bytes, std::string_view signature) const {
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    const bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) == 1 &&
                    EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                     signature.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                                     bytes.size()) == 1;
    ERR_clear_error();
    return ok;
}

std::string signed_bytes(const v1::AuditCheckpoint& c) {
    std::string out = "connguard.v1.AuditCheckpoint";
    auto field = [&](const std::string& v) { out += "|" + std::to_string(v.size()) + ":" + v; };
    field(std::to_string(c.seq()));
    field(c.entry_hash());
    field(std::to_string(TimeUtil::TimestampToMilliseconds(c.at())));
    field(c.coordinator_id());
    field(c.key_id());
    return out;
}

v1::AuditCheckpoint make(std::uint64_t seq, const std::string& entry_hash, std::int64_t at_ms,
                         const std::string& coordinator_id, const signing_key& key) {
    v1::AuditCheckpoint c;
    c.set_seq(seq);
    c.set_entry_hash(entry_hash);
    *c.mutable_at() = TimeUtil::MillisecondsToTimestamp(at_ms);
    c.set_coordinator_id(coordinator_id);
    c.set_key_id(key.key_id());
    c.set_signature(key.sign(signed_bytes(c)));
    return c;
}

status verify(const v1::AuditCheckpoint& c, const public_key& key) {
    if (key.verifies(signed_bytes(c), c.signature())) return {};
    const std::string which = "checkpoint of entry " + std::to_string(c.seq()) + " (" + describe(c) + ")";
    if (c.key_id() != key.key_id())
        return make_error("audit.checkpoint_signature",
                          which + " was signed by key " + c.key_id() + ", not by the given public key " + key.key_id() +
                              " (a rotated key? verify with the public key of that time)");
    return make_error("audit.checkpoint_signature",
                      which + ": bad signature (the checkpoint or its signature was altered)");
}

std::string to_line(const v1::AuditCheckpoint& c) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    o.add_whitespace = false;
    (void)google::protobuf::util::MessageToJsonString(c, &out, o);
    return out;
}

result<v1::AuditCheckpoint> from_line(std::string_view line) {
    v1::AuditCheckpoint c;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;  // a newer coordinator may add fields; the signature covers the known ones
    if (!google::protobuf::util::JsonStringToMessage(std::string(line), &c, o).ok())
        return make_error("audit.checkpoint_format", "not a JSON audit checkpoint");
    std::vector<std::string> missing;
    if (c.seq() == 0) missing.push_back("seq");
    if (c.entry_hash().empty()) missing.push_back("entry_hash");
    if (!c.has_at()) missing.push_back("at");
    if (c.key_id().empty()) missing.push_back("key_id");
    if (c.signature().empty()) missing.push_back("signature");
    if (!missing.empty()) {
        std::string m = "audit checkpoint without";
        for (std::size_t i = 0; i < missing.size(); ++i) m += (i ? ", " : " ") + missing[i];
        return make_error("audit.checkpoint_format", m);
    }
    return c;
}

result<std::vector<v1::AuditCheckpoint>> parse_file(std::string_view text, const public_key& key) {
    std::vector<v1::AuditCheckpoint> out;
    std::size_t line_no = 0, start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        auto line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (line.empty()) continue;
        auto c = from_line(line);
        if (!c) return make_error(c.err().code, "line " + std::to_string(line_no) + ": " + c.err().message);
        if (auto st = verify(*c, key); !st)
            return make_error(st.err().code, "line " + std::to_string(line_no) + ": " + st.err().message);
        out.push_back(std::move(*c));
    }
    if (out.empty()) return make_error("audit.checkpoint_none", "no checkpoint in it");
    return out;
}

std::vector<std::uint64_t> seqs_to_fetch(const std::vector<v1::AuditCheckpoint>& checkpoints, std::uint64_t head_seq) {
    std::set<std::uint64_t> seqs;
    for (const auto& c : checkpoints)
        if (c.seq() <= head_seq) seqs.insert(c.seq());
    return {seqs.begin(), seqs.end()};
}

std::vector<std::string> compare(const std::vector<v1::AuditCheckpoint>& checkpoints, const log_state& log) {
    std::vector<std::string> problems;
    // The newest anchor the log falls short of names the whole missing range at once.
    const v1::AuditCheckpoint* furthest = nullptr;
    for (const auto& c : checkpoints)
        if (c.seq() > log.head_seq && (!furthest || c.seq() > furthest->seq())) furthest = &c;
    if (furthest) {
        const auto first_missing = log.head_seq + 1;
        const std::string missing = first_missing == furthest->seq()
                                        ? "entry " + std::to_string(first_missing) + " is missing"
                                        : "entries " + std::to_string(first_missing) + "-" +
                                              std::to_string(furthest->seq()) + " are missing";
        problems.push_back("the log ends at entry " + std::to_string(log.head_seq) + " but " + describe(*furthest) +
                           " anchors entry " + std::to_string(furthest->seq()) + ": " + missing);
    }
    // Each checkpoint the log still reaches must match it; report each differing entry once.
    std::set<std::uint64_t> reported;
    for (const auto& c : checkpoints) {
        if (c.seq() > log.head_seq || reported.count(c.seq())) continue;
        auto it = log.hash_at.find(c.seq());
        std::string head_hash;
        if (it == log.hash_at.end() && c.seq() == log.head_seq && !log.head_hash.empty()) {
            if (log.head_hash == c.entry_hash()) continue;
            head_hash = log.head_hash;
        } else if (it == log.hash_at.end()) {
            reported.insert(c.seq());
            problems.push_back("entry " + std::to_string(c.seq()) + " of " + describe(c) +
                               " was not compared (its hash was not read from the log)");
            continue;
        }
        const std::string& found = it != log.hash_at.end() ? it->second : head_hash;
        if (found == c.entry_hash()) continue;
        reported.insert(c.seq());
        problems.push_back("entry " + std::to_string(c.seq()) + " has hash " + short_hash(found) + " but " +
                           describe(c) + " signed " + short_hash(c.entry_hash()) +
                           ": the log was rewritten at or before entry " + std::to_string(c.seq()));
    }
    return problems;
}

}  // namespace connguard::coord::checkpoint
