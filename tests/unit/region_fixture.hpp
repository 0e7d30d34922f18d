// SPDX-License-Identifier: BSD-3-Clause
//
// A private directory for the cluster regions of one test, removed with
// everything in it afterwards, and a cluster id no other test run uses.

#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "zc/zc.h"

class RegionTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string pattern = "/dev/shm/zc-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        directory = pattern;
        // Traversable by anyone, so that file modes are what a test exercises.
        ::chmod(directory.c_str(), 0755);
        id = 100000u + static_cast<std::uint32_t>(::getpid()) % 100000u;
    }
    void TearDown() override { std::filesystem::remove_all(directory); }

    zc_cluster_config config(std::uint32_t frames = 256, std::uint32_t queues = 2, std::uint32_t slots = 256) const
    {
        zc_cluster_config c;
        zc_cluster_config_init(&c);
        c.frame_count = frames;
        c.queue_count = queues;
        c.queue_slots = slots;
        c.directory = directory.c_str();
        return c;
    }

    std::string path() const { return directory + "/cluster-" + std::to_string(id); }

    std::string directory;
    std::uint32_t id = 0;
};
