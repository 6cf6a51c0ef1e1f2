#include "coordinator/checkpointer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/atomic_file.h"
#include "common/envelope_codec.h"
#include "common/topics.h"

namespace connguard::coord {

namespace {

// After a failed checkpoint: try again this much later (not on every tick).
constexpr std::int64_t retry_delay_ms = 5000;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

checkpointer::checkpointer(store& db, const clock& clk, checkpoint_settings settings)
    : db_(db), clk_(clk), s_(std::move(settings)) {}

status checkpointer::check_against_file() {
    if (s_.file.empty()) return {};
    auto text = read_file(s_.file);
    if (!text) {
        if (text.err().code != "file.missing") spdlog::error("audit checkpoints: {}", text.err().message);
        return {};
    }
    // A crash in the middle of an append leaves a partial line; cut it off so that the next line
    // does not join it (a verifier refuses a line it cannot read).
    if (!text->empty() && text->back() != '\n') {
        const auto nl = text->rfind('\n');
        const std::size_t keep = nl == std::string::npos ? 0 : nl + 1;
        if (::truncate(s_.file.c_str(), static_cast<off_t>(keep)) != 0) {
            spdlog::error("audit checkpoints: {}: cannot cut off the partial last line: {}", s_.file.string(),
                          errno_text());
        } else {
            spdlog::warn("audit checkpoints: {}: cut off a partial last line of {} bytes (a crash while writing?)",
                         s_.file.string(), text->size() - keep);
            text->resize(keep);
        }
    }
    std::string_view rest(*text);
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' ')) rest.remove_suffix(1);
    if (rest.empty()) return {};
    const auto nl = rest.rfind('\n');
    const auto line = nl == std::string_view::npos ? rest : rest.substr(nl + 1);

    std::vector<std::string> problems;
    auto c = checkpoint::from_line(line);
    if (!c) {
        spdlog::error("audit checkpoints: {}: the last line is unreadable ({}); not compared", s_.file.string(),
                      c.err().message);
        return {};
    }
    if (c->key_id() != s_.key.key_id()) {
        spdlog::info("audit checkpoints: {}: the newest checkpoint was signed by key {}, not by the configured key {} "
                     "(rotated); not compared",
                     s_.file.string(), c->key_id(), s_.key.key_id());
        return {};
    }
    auto pub = checkpoint::public_key::from_pem(s_.key.public_key_pem());
    if (!pub) return pub.err();
    if (auto st = checkpoint::verify(*c, *pub); !st) {
        problems.push_back(st.err().message);
    } else {
        checkpoint::log_state log;
        auto head = db_.audit_head();
        if (!head) return head.err();
        if (*head) {
            log.head_seq = (*head)->seq();
            log.head_hash = (*head)->hash();
        }
        if (c->seq() <= log.head_seq) {
            auto h = db_.audit_hash_at(c->seq());
            if (!h) return h.err();
            if (*h) log.hash_at[c->seq()] = **h;
        }
        problems = checkpoint::compare({*c}, log);
    }
    if (problems.empty()) {
        spdlog::info("audit checkpoints: the log agrees with the newest checkpoint in {} (entry {})", s_.file.string(),
                     c->seq());
        return {};
    }
    std::string detail = "the audit log contradicts the newest checkpoint in " + s_.file.string() + ":";
    for (const auto& p : problems) {
        spdlog::critical("audit checkpoints: the audit log contradicts the newest checkpoint in {}: {}",
                         s_.file.string(), p);
        detail += " " + p + ";";
    }
    detail.pop_back();
    // Recorded in the log itself: the checkpoints that follow anchor the log as it now is, and this
    // entry keeps saying that it was cut back or rewritten.
    if (auto st = db_.begin(); !st) return st;
    auto e = db_.append_audit(to_unix_ms(clk_.now()), "coordinator", "audit.checkpoint_mismatch", "", "", detail);
    if (!e) {
        db_.rollback();
        return e.err();
    }
    if (auto st = db_.commit(); !st) {
        db_.rollback();
        return st;
    }
    return {};
}

result<bool> checkpointer::maybe_checkpoint(bool approval) {
    approval_pending_ = approval_pending_ || approval;
    const std::int64_t now = to_unix_ms(clk_.now());
    if (now < retry_after_ms_) return false;
    auto head = db_.audit_head();
    if (!head) return head.err();
    if (!*head) return false;  // an empty log has nothing to anchor
    const auto& h = **head;
    if (last_ && last_->seq() == h.seq() && last_->hash() == h.hash()) {
        approval_pending_ = false;  // the approval's entries are anchored already
        return false;
    }
    if (!approval_pending_ && last_ && now - last_at_ms_ < s_.interval_ms) return false;
    const auto c = checkpoint::make(h.seq(), h.hash(), now, s_.coordinator_id, s_.key);
    if (auto st = emit(c, now); !st) {
        retry_after_ms_ = now + retry_delay_ms;
        return st.err();
    }
    last_ = h;
    last_at_ms_ = now;
    approval_pending_ = false;
    ++emitted_;
    spdlog::info("audit checkpoint: entry {} ({}) signed with key {}", h.seq(), h.hash().substr(0, 16), s_.key.key_id());
    return true;
}

status checkpointer::emit(const v1::AuditCheckpoint& c, std::int64_t now) {
    const std::string line = checkpoint::to_line(c);
    if (auto st = db_.begin(); !st) return st;
    auto fail = [&](status st) {
        db_.rollback();
        return st;
    };
    auto env = codec::make_envelope("", "coordinator");
    *env.mutable_audit_checkpoint() = c;
    mqtt_outbox_row m;
    m.topic = topics::audit_checkpoint();
    m.payload = codec::encode(env, clk_);
    m.retained = true;  // a verifier that connects later still finds the newest anchor
    if (auto st = db_.enqueue_mqtt(m, now); !st) return fail(st);
    if (!s_.webhook_url.empty()) {
        webhook_row w;
        w.delivery_key = "audit-checkpoint|" + s_.coordinator_id + "|" + std::to_string(c.seq()) + "|" +
                         std::to_string(now);
        w.sink = "audit-checkpoint";
        w.url = s_.webhook_url;
        w.body = line;
        if (auto st = db_.enqueue_webhook(w, now); !st) return fail(st);
    }
    if (auto st = db_.commit(); !st) return fail(st);
    if (!s_.file.empty()) return append_line(line);
    return {};
}

status checkpointer::append_line(const std::string& line) {
    const bool existed = std::filesystem::exists(s_.file);
    const int fd = ::open(s_.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return make_error("audit.checkpoint_file", "cannot open " + s_.file.string() + ": " + errno_text());
    const std::string bytes = line + "\n";
    std::size_t done = 0;
    while (done < bytes.size()) {
        const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const auto why = errno_text();
            ::close(fd);
            return make_error("audit.checkpoint_file", "cannot append to " + s_.file.string() + ": " + why);
        }
        done += static_cast<std::size_t>(n);
    }
    // The line is the anchor: it must be on disk before anyone relies on it.
    if (::fsync(fd) != 0) {
        const auto why = errno_text();
        ::close(fd);
        return make_error("audit.checkpoint_file", "cannot fsync " + s_.file.string() + ": " + why);
    }
    ::close(fd);
    if (!existed) {
        // A new file is durable only once its folder entry is.
        const auto dir = s_.file.has_parent_path() ? s_.file.parent_path() : std::filesystem::path(".");
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)::fsync(dfd);
            ::close(dfd);
        }
    }
    return {};
}

}  // namespace connguard::coord
