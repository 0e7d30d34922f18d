// SPDX-License-Identifier: BSD-3-Clause
//
// The region's table of content-rule hits (layout.hpp, RuleTable: its
// sequence-lock protocol is written down there): the owner's writer here,
// the readers' zc_cluster_get_rule_stats in rules_table.cpp. Control path.

#pragma once

#include <vector>

#include "internal/layout.hpp"
#include "rules.hpp"
#include "zc/zc.h"

namespace zc {

// The owner publishes the rules in force (`rows`, file order) and the
// counters in `totals` (its rule_count is taken from rows.size()).
void publish_rule_table(RuleTable& table, const std::vector<rules::RuleHits>& rows,
                        const zc_rules_stats& totals) noexcept;

// One rule's row, as the C API gives it.
zc_rule_stats rule_stats_of(const rules::RuleHits& hits) noexcept;

} // namespace zc
