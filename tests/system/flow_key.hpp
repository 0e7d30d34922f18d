// SPDX-License-Identifier: BSD-3-Clause
//
// tests/system/flow_key.hpp — the flow a frame belongs to, as zc/hash.h
// documents it, read by a second, independent parser (it shares no code with
// core/src/packet_parse.cpp). check-corpus uses it to say which frames must
// share a queue: two frames with the same key must hash alike in that mode.
//
// A key is text (it appears in messages), the same for both directions of a
// flow: endpoints are written smaller first. Kinds, from the deepest the
// rules reach to the last fallback: "5tuple", "2tuple", "mac" (the MAC pair),
// "none" (a frame too short for MACs), and "vlan" for the vlan mode. The
// inner flow of a tunnel has exactly the key the same flow has untunnelled.

#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace zc::check {

enum class KeyMode { FiveTuple, TwoTuple, InnerFiveTuple, Vlan };

struct FlowKey {
    std::string key;         // canonical: both directions give the same text
    const char* kind = "";   // "5tuple", "2tuple", "mac", "none", "vlan"
    int direction = -1;      // 0: the source is the key's first endpoint, 1: the second; -1: no direction
    bool inner = false;      // keyed on the packet inside a tunnel
    // The same, as fields: enough to build the simplest frame of this flow.
    int ip_version = 0;      // 5tuple, 2tuple: 4 or 6
    std::uint8_t protocol = 0;                // 5tuple
    std::array<std::uint8_t, 16> first{}, second{}; // addresses (IPv4, MAC: leading bytes), canonical order
    std::uint16_t first_port = 0, second_port = 0;  // 5tuple
    unsigned vlan = 0;       // vlan
};

// The mode called `name` ("5tuple", "2tuple", "inner-5tuple", "vlan").
bool key_mode_from_name(const std::string& name, KeyMode* out);

// The key of a frame of `length` captured bytes, starting at Ethernet.
FlowKey flow_key(KeyMode mode, const std::uint8_t* frame, std::uint32_t length);

} // namespace zc::check
