// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/options.hpp — the DAQ variables of the zc module (--daq-var
// KEY=VALUE on Snort's command line, config daq_var in snort.conf), read
// into a zc_device_config and the module's own settings. The same names
// for every DAQ version: the DAQ 2 module hands over libdaq 2's dictionary
// as (key, value) pairs, the DAQ 3 module its configuration's variables.
//
// An unknown variable or a value out of range is an error whose sentence
// names the variable and what it accepts (man daq_zc(7) lists them).
#ifndef DAQZC_OPTIONS_HPP
#define DAQZC_OPTIONS_HPP

#include <cstddef>
#include <string>

#include "zc/device.h"

namespace daqzc {

struct Options {
    zc_device_config device{}; // flags (RX added by the caller), frame_count, ring_size, busy poll, replay
    bool debug = false;        // print what was opened, and the counters at stop, on stderr
};

// The defaults: zc_device_config_init's, debug off.
Options default_options() noexcept;

// Applies one variable (value null when the variable was given without
// "=VALUE"). false with a sentence in `error` for an unknown variable or a
// bad value.
bool apply_option(Options& options, const char* key, const char* value, std::string& error);

// The list of known variables, for messages: "debug, ring_size, ...".
const char* known_options() noexcept;

// Every variable with a sentence that says what it does, for a DAQ
// module's own list (DAQ 3's get_variable_descs). A switch takes no value
// or one; the others need one.
struct OptionDescription {
    const char* name;
    const char* description;
    bool needs_value;
};
// The table, and how many entries it has.
const OptionDescription* option_descriptions(std::size_t& count) noexcept;

} // namespace daqzc

#endif // DAQZC_OPTIONS_HPP
