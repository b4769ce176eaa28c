#pragma once
// Internal: the server's check of an update read from a client's stream, shared by
// NetworkSource (every update) and check_client_message (protocol.h; the fuzz target).
#include <string>

#include "federation.pb.h"
#include "tdml/federation/protocol.h"

namespace tdml::federation {

// "" when `u` is for the expected run, round and attempt, carries exactly the model's parameter
// and buffer bytes and a sample count >= 1; else why it is refused.
std::string check_update(const wire::Update& u, const UpdateExpectation& e);

}  // namespace tdml::federation
