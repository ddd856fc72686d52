// The persistent state directory: where the engine keeps its DuckDB database file, so that a
// restart with unchanged sources reuses the loaded tables and the pre-aggregates instead of
// reading and summarizing everything again (the engine's ledger says what is still valid; see
// Engine::build).
//
//   auto file = choose_state_file(project_dir / ".sightline" / "state", StateFileUse::Reuse);
//   if (file) open(file->path) ...
//
// The files are state-<generation>.duckdb. At start the newest one is reused; an engine built
// while another serves (a reload that changed the sources) takes a new generation beside it, as
// one DuckDB file can be open in one database only. Older generations are removed once a newer
// one exists (remove_older_generations), except files another process holds open.
//
// Only one process uses a directory at a time: DuckDB locks the file it opens, and the caller
// falls back to memory when the newest file is held by someone else.
//
// Free functions over the file system; thread-safe as long as two calls do not race on one
// directory (one process serves one project).
#pragma once

#include <filesystem>

#include "core/error.h"

namespace sightline::engine {

enum class StateFileUse {
  Reuse,  // the newest generation (a new one in an empty directory)
  Fresh,  // a generation newer than every file present, created empty
};

struct StateFile {
  std::filesystem::path path;  // the database file to open (may not exist yet)
  bool existed = false;        // it holds an earlier engine's state
};

// Creates `dir` (mode 0700: the files hold copies of the data) when missing and names the file to
// open. Fails (Unavailable, with the reason) when the directory cannot be created or written, or
// when another process holds the newest file.
Result<StateFile> choose_state_file(const std::filesystem::path& dir, StateFileUse use);

// Removes every generation of `dir` older than `current` (and their write-ahead logs), except
// files another process holds open. Engines of this process still reading one keep it readable:
// on POSIX a removed file lives on until it is closed.
void remove_older_generations(const std::filesystem::path& dir, const std::filesystem::path& current);

// Whether a generation newer than `file` exists beside it.
bool newer_generation_exists(const std::filesystem::path& file);

// Whether a process other than this one holds a lock on `file` (DuckDB locks the files it opens).
bool held_by_another_process(const std::filesystem::path& file);

}  // namespace sightline::engine
