// Test-only fault injection, linked into the tdml-faults binary only (tests/CMakeLists.txt):
// when TDML_TEST_DIE_RANK equals a rank and its step reaches TDML_TEST_DIE_AFTER_STEPS (default
// 0), the process SIGKILLs itself, as a crashed or preempted worker would. Under a launcher that
// restarts (TORCHELASTIC_RESTART_COUNT set), only the attempt TDML_TEST_DIE_ATTEMPT (default 0)
// dies, so the restarted group can finish. The variables are read once, at start-up, not in the
// step loop.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include "tdml/dist/step_hook.h"
#include "tdml/federation/client.h"
#include "tdml/federation/server.h"

namespace {

int g_die_rank = -1;
std::int64_t g_die_after = 0;

void die_at_step(int rank, std::int64_t step) {
  if (rank == g_die_rank && step >= g_die_after) std::raise(SIGKILL);
}

struct InstallFromEnvironment {
  InstallFromEnvironment() {
    const char* rank = std::getenv("TDML_TEST_DIE_RANK");
    if (!rank) return;
    const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
    const char* die_attempt = std::getenv("TDML_TEST_DIE_ATTEMPT");
    if (attempt && std::atoi(attempt) != (die_attempt ? std::atoi(die_attempt) : 0)) return;
    g_die_rank = std::atoi(rank);
    const char* after = std::getenv("TDML_TEST_DIE_AFTER_STEPS");
    g_die_after = after ? std::atoll(after) : 0;
    tdml::dist::set_step_hook(&die_at_step);
  }
} g_install;

// Federation clients: TDML_TEST_FL_DIE_ROUND=R SIGKILLs the client just before it sends its
// update for round R; TDML_TEST_FL_DELAY_ROUND=R with TDML_TEST_FL_DELAY_S=S sleeps S seconds
// there (past the server's deadline).
int g_fl_die_round = -1, g_fl_delay_round = -1;
double g_fl_delay_s = 0;

// TDML_TEST_FL_UPDATE=garble|short|oversize changes every update's bytes after signing: one
// byte flipped, 4 bytes missing, or 1 MiB more than the model sent as one message (above the
// server's bound on a message).
void before_send(int round, std::string* update, std::size_t* chunk_bytes) {
  static const char* how = std::getenv("TDML_TEST_FL_UPDATE");
  if (how && std::string(how) == "garble" && !update->empty()) (*update)[0] ^= 0x40;
  if (how && std::string(how) == "short" && update->size() >= 4) update->resize(update->size() - 4);
  if (how && std::string(how) == "oversize") {
    update->append(1u << 20, '\0');
    *chunk_bytes = update->size();
  }
  if (round == g_fl_die_round) std::raise(SIGKILL);
  if (round == g_fl_delay_round) {
    std::this_thread::sleep_for(std::chrono::duration<double>(g_fl_delay_s));
  }
}

// TDML_TEST_FL_LOSE_RECEIPT_ROUND=R: the client drops its connection when round R's receipt
// arrives, without keeping it (once): the receipt is lost in flight.
bool lose_receipt(int round) {
  static const int lose = std::atoi(std::getenv("TDML_TEST_FL_LOSE_RECEIPT_ROUND"));
  static bool lost = false;
  if (round != lose || lost) return false;
  lost = true;
  return true;
}

void after_round(int round) {
  static const char* die = std::getenv("TDML_TEST_FL_SERVER_DIE_AFTER_ROUND");
  if (die && round == std::atoi(die)) std::raise(SIGKILL);
}

void after_block(int round) {
  static const char* die = std::getenv("TDML_TEST_FL_SERVER_DIE_AFTER_BLOCK");
  if (die && round == std::atoi(die)) std::raise(SIGKILL);
}

struct InstallFederationHooks {
  InstallFederationHooks() {
    // TDML_TEST_FL_SERVER_DIE_AFTER_ROUND=R: the server SIGKILLs itself once round R is saved.
    if (std::getenv("TDML_TEST_FL_SERVER_DIE_AFTER_ROUND")) {
      tdml::federation::set_after_round_hook(&after_round);
    }
    // TDML_TEST_FL_SERVER_DIE_AFTER_BLOCK=R: ... once round R's block is appended, before its
    // state is committed (the crash window between the ledger and the saved state).
    if (std::getenv("TDML_TEST_FL_SERVER_DIE_AFTER_BLOCK")) {
      tdml::federation::set_after_block_hook(&after_block);
    }
    if (std::getenv("TDML_TEST_FL_LOSE_RECEIPT_ROUND")) {
      tdml::federation::set_receipt_hook(&lose_receipt);
    }
    const char* die = std::getenv("TDML_TEST_FL_DIE_ROUND");
    const char* delay = std::getenv("TDML_TEST_FL_DELAY_ROUND");
    if (!die && !delay && !std::getenv("TDML_TEST_FL_UPDATE")) return;
    if (die) g_fl_die_round = std::atoi(die);
    if (delay) g_fl_delay_round = std::atoi(delay);
    const char* s = std::getenv("TDML_TEST_FL_DELAY_S");
    g_fl_delay_s = s ? std::atof(s) : 0;
    tdml::federation::set_before_send_hook(&before_send);
  }
} g_install_federation;

}  // namespace
