// SPDX-License-Identifier: BSD-3-Clause
//
// tools/daemon.cpp — --daemon and --pid-file for the tools: see daemon.hpp.

#include "daemon.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace zc::tools {

int start_daemon(const char* program, int* ready_fd)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        std::fprintf(stderr, "%s: --daemon: cannot make a pipe: %s\n", program, std::strerror(errno));
        return 1;
    }
    std::fflush(nullptr); // nothing buffered is written twice
    pid_t child = ::fork();
    if (child < 0) {
        std::fprintf(stderr, "%s: --daemon: cannot fork: %s\n", program, std::strerror(errno));
        return 1;
    }
    if (child == 0) {
        ::close(fds[0]);
        ::setsid(); // a session of its own: the terminal's hang-up and ^C are not for it
        *ready_fd = fds[1];
        return -1;
    }
    ::close(fds[1]);
    char byte = 0;
    ssize_t got;
    while ((got = ::read(fds[0], &byte, 1)) < 0 && errno == EINTR) {
    }
    ::close(fds[0]);
    if (got == 1)
        return 0;
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        std::fprintf(stderr, "%s: --daemon: the daemon (pid %d) was killed by %s while it started\n", program,
                     static_cast<int>(child), strsignal(WTERMSIG(status)));
    else
        std::fprintf(stderr, "%s: --daemon: the daemon (pid %d) stopped before it was ready\n", program,
                     static_cast<int>(child));
    return 1;
}

void daemon_ready(int ready_fd)
{
    std::fflush(nullptr);
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
            struct stat st {};
            if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
                ::dup2(null, fd);
        }
        ::close(null);
    }
    // Out of the start directory, whose mount it would keep busy; nothing
    // is opened by a relative name from here on, and "/" is always there.
    [[maybe_unused]] int moved = ::chdir("/");
    const char byte = 1;
    while (::write(ready_fd, &byte, 1) < 0 && errno == EINTR) {
    }
    ::close(ready_fd);
}

std::string write_pid_file(const char* program, const std::string& name)
{
    std::string path = name;
    if (path.front() != '/') {
        char cwd[PATH_MAX];
        if (!::getcwd(cwd, sizeof cwd)) {
            std::fprintf(stderr, "%s: --pid-file %s: cannot tell the current directory: %s\n", program, name.c_str(),
                         std::strerror(errno));
            return {};
        }
        path = std::string(cwd) + "/" + path;
    }
    std::string temporary = path + ".XXXXXX";
    int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
    if (fd < 0) {
        std::fprintf(stderr, "%s: --pid-file %s: cannot create a file there: %s\n", program, name.c_str(),
                     std::strerror(errno));
        return {};
    }
    const std::string text = std::to_string(::getpid()) + "\n";
    bool written = ::fchmod(fd, 0644) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    int code = errno;
    if (::close(fd) != 0 && written) {
        written = false;
        code = errno;
    }
    if (written && ::rename(temporary.c_str(), path.c_str()) != 0) {
        written = false;
        code = errno;
    }
    if (!written) {
        ::unlink(temporary.c_str());
        std::fprintf(stderr, "%s: --pid-file %s: cannot write it: %s\n", program, name.c_str(), std::strerror(code));
        return {};
    }
    return path;
}

void remove_pid_file(const std::string& path)
{
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "re"), std::fclose);
    long pid = 0;
    if (file && std::fscanf(file.get(), "%ld", &pid) == 1 && pid == ::getpid())
        ::unlink(path.c_str());
}

} // namespace zc::tools
