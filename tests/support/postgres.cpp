#include "tests/support/postgres.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>

#include "tests/support/util.h"

namespace connguard::test {

namespace {

namespace fs = std::filesystem;

const char* const server_user = "postgres";

std::string tail_of(const std::string& s, std::size_t max_bytes = 4000) {
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

bool executable(const fs::path& p) { return ::access(p.c_str(), X_OK) == 0; }

/// "15" -> {15}, "9.6" -> {9, 6}: directory names of /usr/lib/postgresql compared as versions.
std::vector<int> version_of(const std::string& name) {
    std::vector<int> v;
    std::size_t i = 0;
    while (i < name.size()) {
        std::size_t j = i;
        while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
        if (j == i) return {};  // not a version directory
        v.push_back(std::stoi(name.substr(i, j - i)));
        if (j < name.size() && name[j] != '.') return {};
        i = j + 1;
    }
    return v;
}

/// The newest /usr/lib/postgresql/<version>/bin holding initdb, pg_ctl and postgres; empty if none.
fs::path find_bin_dir() {
    fs::path best;
    std::vector<int> best_version;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        const auto v = version_of(e.path().filename().string());
        const fs::path bin = e.path() / "bin";
        if (v.empty() || !executable(bin / "initdb") || !executable(bin / "pg_ctl") || !executable(bin / "postgres"))
            continue;
        if (best.empty() || v > best_version) {
            best = bin;
            best_version = v;
        }
    }
    return best;
}

/// Single-quoted for /bin/sh: su -c takes one command string.
std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// The process state letter from /proc/PID/stat ('Z' for a zombie), or 0 when there is no such process.
char process_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return 0;
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : 0;
}

/// Every live process whose working directory is `dir`: the postmaster chdirs into its data
/// directory and all server processes inherit it, which finds them even after the postmaster is gone
/// (they are re-parented then, so a parent-pid walk would miss them).
std::set<pid_t> processes_in(const fs::path& dir) {
    std::set<pid_t> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        const std::string name = e.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        std::error_code link_ec;
        if (fs::read_symlink(e.path() / "cwd", link_ec) == dir && !link_ec) out.insert(std::stoi(name));
    }
    return out;
}

}  // namespace

std::string postgres_server::unavailable_reason() {
    if (find_bin_dir().empty())
        return "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/{initdb,pg_ctl,postgres}); "
               "tools/install-deps installs the postgresql package";
    // The server refuses to run as root: as root every server command runs as `postgres` via su.
    if (::geteuid() == 0 && ::getpwnam(server_user) == nullptr)
        return "running as root and there is no 'postgres' user to run the PostgreSQL server as";
    return {};
}

postgres_server::postgres_server(postgres_options o) : options_(o), owner_pid_(::getpid()) {
    if (const auto why = unavailable_reason(); !why.empty()) throw std::runtime_error("postgres_server: " + why);
    bin_dir_ = find_bin_dir();
    dir_ = std::make_unique<temp_dir>("connguard-pg");
    root_ = fs::canonical(dir_->path());
    if (::geteuid() == 0) {
        // mkdtemp made the directory 0700 and root's: the server user must own it (initdb creates
        // data/ in it, pg_ctl writes pg.log and the Unix socket there).
        const passwd* pw = ::getpwnam(server_user);
        if (::chown(root_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
            throw std::runtime_error("postgres_server: chown " + root_.string() + " failed");
    }
    std::vector<std::string> initdb{(bin_dir_ / "initdb").string(), "-D", data_dir().string(), "-A", "trust",
                                    "-U", "postgres", "-E", "UTF8", "--locale=C"};
    // Durable mode keeps initdb's final sync too, so a durability test starts from synced files.
    if (options_.unit_test_speed) initdb.push_back("--no-sync");
    std::string out;
    if (const int rc = run_as_server_user(initdb, &out); rc != 0)
        throw std::runtime_error("postgres_server: initdb exited " + std::to_string(rc) + " in " + root_.string() +
                                 ":\n" + tail_of(out));
    port_ = free_port();
    start();
}

postgres_server::~postgres_server() {
    if (::getpid() != owner_pid_) {
        // A forked child running static destructors: the server and its directory are the parent's.
        (void)dir_.release();
        return;
    }
    try {
        if (!stop()) kill();
    } catch (...) {
        // A destructor must not throw; the temp dir is removed below either way.
    }
}

int postgres_server::run_as_server_user(const std::vector<std::string>& argv, std::string* output) const {
    if (::geteuid() != 0) return run_command(argv, output, true, std::chrono::seconds{120});
    // `cd` first: su keeps the caller's working directory, which the postgres user may not be able
    // to read (e.g. /root), and initdb and pg_ctl want a readable one.
    std::string cmd = "cd " + shell_quote(root_.string()) + " && exec";
    for (const auto& a : argv) cmd += " " + shell_quote(a);
    return run_command({"su", server_user, "-s", "/bin/sh", "-c", cmd}, output, true, std::chrono::seconds{120});
}

void postgres_server::start() {
    if (running_) throw std::runtime_error("postgres_server::start: already running on port " + std::to_string(port_));
    // pg_ctl passes -o through /bin/sh to postgres, hence the quoted socket directory.
    std::string server_options =
        "-p " + std::to_string(port_) + " -k " + shell_quote(root_.string()) + " -c listen_addresses=127.0.0.1";
    if (options_.unit_test_speed) server_options += " -c fsync=off -c synchronous_commit=off";
    std::string out;
    const int rc = run_as_server_user({(bin_dir_ / "pg_ctl").string(), "-D", data_dir().string(), "-o", server_options,
                                       "-l", log_file().string(), "-w", "-t", "60", "start"},
                                      &out);
    if (rc != 0) {
        // pg_ctl -w gave up but a postmaster may be half up: leave nothing behind.
        kill();
        throw std::runtime_error("postgres_server: pg_ctl start exited " + std::to_string(rc) + " (port " +
                                 std::to_string(port_) + "):\n" + tail_of(out) + "\nlog " + log_file().string() +
                                 ":\n" + tail_of(slurp(log_file())));
    }
    running_ = true;
}

bool postgres_server::stop() {
    if (!running_) return true;
    std::string out;
    const int rc =
        run_as_server_user({(bin_dir_ / "pg_ctl").string(), "-D", data_dir().string(), "-m", "fast", "-w", "stop"}, &out);
    if (rc == 0) running_ = false;
    return rc == 0;
}

void postgres_server::kill() {
    running_ = false;
    pid_t postmaster = 0;
    {
        std::ifstream in(data_dir() / "postmaster.pid");
        in >> postmaster;  // first line: the postmaster's pid
    }
    // Only a pid that is one of this server's processes: after an earlier kill() the file is stale
    // and its pid may belong to anything by now.
    if (postmaster > 0 && processes_in(data_dir()).count(postmaster) != 0)
        ::kill(postmaster, SIGKILL);
    else
        postmaster = 0;
    // Then every other server process: were they left, they would keep the old shared memory
    // attached and the next postmaster would refuse to start.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    for (;;) {
        const auto left = processes_in(data_dir());
        if (left.empty()) break;
        if (std::chrono::steady_clock::now() >= deadline)
            throw std::runtime_error("postgres_server::kill: server processes survive SIGKILL in " + root_.string());
        for (pid_t p : left) ::kill(p, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    // pg_ctl daemonized the postmaster, so it is not our child: when nothing reaps orphans (PID 1 in
    // some containers) it stays a zombie, which the next postmaster's lock-file check takes for a
    // live server. It is dead, so its lock files are stale: remove them as an operator would.
    if (postmaster > 0 && eventually([&] { const char s = process_state(postmaster); return s == 0 || s == 'Z'; },
                                     std::chrono::seconds{20})) {
        if (process_state(postmaster) == 'Z') {
            std::error_code ec;
            fs::remove(data_dir() / "postmaster.pid", ec);
            fs::remove(root_ / (".s.PGSQL." + std::to_string(port_) + ".lock"), ec);
        }
    }
}

std::string postgres_server::url(const std::string& db) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

int postgres_server::psql(const std::string& db, const std::string& sql, std::string* output) const {
    // The server's own psql (same version); Debian's /usr/bin/psql wrapper otherwise.
    const fs::path own = bin_dir_ / "psql";
    const std::string psql_bin = executable(own) ? own.string() : "psql";
    return run_command({psql_bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url(db), "-c", sql}, output);
}

std::string postgres_server::create_database() {
    // One at a time: a unique name from the counter, and CREATE DATABASE statements copying
    // template1 never race each other.
    std::lock_guard lock(create_mutex_);
    const std::string name = "test_" + std::to_string(++databases_created_);
    std::string out;
    if (const int rc = psql("postgres", "CREATE DATABASE " + name, &out); rc != 0)
        throw std::runtime_error("postgres_server: CREATE DATABASE " + name + " failed (psql exited " +
                                 std::to_string(rc) + "):\n" + tail_of(out));
    return url(name);
}

postgres_server& shared_postgres() {
    static postgres_server server{postgres_options{.unit_test_speed = true}};
    return server;
}

}  // namespace connguard::test
