// SPDX-License-Identifier: BSD-3-Clause
//
// tools/daemon.hpp — what a tool needs to run in the background: --daemon
// (fork, let go of the terminal, and tell the parent once everything is
// open) and --pid-file (written whole or not at all, removed only while it
// still names this process). Errors go to stderr, each starting with
// `program` and the option, as in "zc-balance: --daemon: cannot fork: ...".

#pragma once

#include <string>

namespace zc::tools {

// --daemon. The command forks before it opens anything, so that the child
// — the daemon — is the process that owns what it opens (zc-balance's
// cluster: the region records its pid; consumers and a second zc-balance
// check that pid is alive) and the one in the pid file. The parent waits on
// a pipe: a byte means that everything is open, and it exits 0, so whoever
// started it may use the cluster at once; end of file means that the daemon
// failed, its error already on stderr, and the parent exits with the
// daemon's status. Returns -1 in the daemon (which then calls daemon_ready),
// else the status the command exits with.
int start_daemon(const char* program, int* ready_fd);

// The daemon is set up: it lets go of the terminal and the directory it
// was started in, and tells the waiting parent. Standard output and error
// stay where they go only if that is a file (its log: --daemon >>LOG
// 2>&1); a terminal or a pipe becomes /dev/null, so that nobody reading
// them waits for the daemon to end.
void daemon_ready(int ready_fd);

// Writes the pid file under a temporary name and renames it into place, so
// that a reader sees the whole of it or nothing. Returns the absolute path
// (it is removed at exit, when a daemon has left the start directory), or
// "" once it has said what failed.
std::string write_pid_file(const char* program, const std::string& name);

// Removes the pid file if it still names this process: another process
// (another zc-balance) given the same --pid-file may have replaced it since.
void remove_pid_file(const std::string& path);

} // namespace zc::tools
