// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: C++14 (g++ with Xilinx's open-source ap_types, or Vitis HLS C simulation)
//
// frame_units_tb -- file-driven test bench of frame_units.hpp, so that Python
// (tests/test_hls_frame_units.py) can run a kernel on the vectors it also gives
// the RTL module.
//
// Build: TB_KERNEL selects the kernel (1 frame_channel_sums, 2 hyper_function,
// 3 frame_buffer, 4 frame_threshold, 5 frame_multi_threshold); its template parameters come as TB_*
// -D flags named like the RTL module's parameters (TB_C, TB_PE, TB_PIXELS, ...).
//
// Usage: tb FRAMES IN_FILE OUT_FILE [MEM_DIR]
//   IN_FILE : input beats, one unsigned hexadecimal word per line (as given to
//             the RTL module; tagged beats carry the tag bit).
//   MEM_DIR : the RTL module's $readmemh files, named after its memory
//             parameters in lower case without _FILE (pool.mem, w1.mem,
//             hid.mem, w2.mem, out.mem, table.mem; sign.mem; table.mem of
//             frame_multi_threshold).
//   OUT_FILE: output beats, one lowercase hexadecimal word per line.
// Exit status 0 on success; 1 with a message on stderr for a missing or
// malformed file.

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#ifndef AP_INT_MAX_W
#define AP_INT_MAX_W 8192  // frame_multi_threshold's table words: PE*L*N_THR*THR_W bits
#endif
#include "frame_units.hpp"

static void fail(const std::string &msg) {
    std::cerr << "frame_units_tb: " << msg << std::endl;
    std::exit(1);
}

template <int N>
static std::vector<ap_uint<N> > read_words(const std::string &path) {
    std::ifstream file(path.c_str());
    if (!file)
        fail("cannot open " + path);
    std::vector<ap_uint<N> > words;
    std::string token;
    while (file >> token) {
        if (token.size() > (size_t)(N + 3) / 4 + 1 || token.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            fail("malformed word '" + token + "' in " + path);
        ap_uint<N + 4> value = 0;
        for (size_t i = 0; i < token.size(); i++) {
            char ch = token[i];
            int digit = (ch <= '9') ? ch - '0' : (ch | 32) - 'a' + 10;
            value = (value << 4) | digit;
        }
        if (value >> N)
            fail("word '" + token + "' in " + path + " is wider than " + std::to_string(N) + " bits");
        words.push_back(ap_uint<N>(value));
    }
    return words;
}

template <int N>
static void write_words(hls::stream<ap_uint<N> > &out, const std::string &path) {
    std::ofstream file(path.c_str());
    while (!out.empty())
        file << std::hex << out.read().to_string(16, false).substr(2) << "\n";
}

template <int N_IN>
static hls::stream<ap_uint<N_IN> > &input(const std::string &path) {
    static hls::stream<ap_uint<N_IN> > in("in");
    std::vector<ap_uint<N_IN> > beats = read_words<N_IN>(path);
    for (size_t i = 0; i < beats.size(); i++)
        in.write(beats[i]);
    return in;
}

int main(int argc, char **argv) {
    if (argc < 4)
        fail("usage: tb FRAMES IN_FILE OUT_FILE [MEM_DIR]");
    const int frames = std::atoi(argv[1]);
    const std::string mem = argc > 4 ? std::string(argv[4]) + "/" : "";
#if TB_KERNEL == 1
    hls::stream<ap_uint<TB_PE * TB_IN_W> > &in = input<TB_PE * TB_IN_W>(argv[2]);
    hls::stream<ap_uint<TB_PE * TB_OUT_W> > out("out");
    for (int f = 0; f < frames; f++)
        frame_channel_sums<TB_C, TB_PE, TB_PIXELS, TB_IN_W, TB_IN_SIGNED, TB_OUT_W>(in, out);
#elif TB_KERNEL == 2
    typedef hyper_function<TB_C, TB_PE, TB_PIXELS, TB_W, TB_J, TB_HEADS, TB_NP, TB_POOL_OFFSET, TB_P_W, TB_WT_W,
                           TB_A1_W, TB_NH, TB_H_W, TB_A2_W, TB_NO, TB_MACS> Hyper;
    hls::stream<ap_uint<TB_PE * TB_W> > &in = input<TB_PE * TB_W>(argv[2]);
    hls::stream<ap_uint<TB_PE * TB_W + 1> > out("out");
    std::vector<Hyper::pool_word_t> pool = read_words<TB_PE * Hyper::LWP>(mem + "pool.mem");
    std::vector<Hyper::weight_word_t> w1 = read_words<TB_MACS * TB_WT_W>(mem + "w1.mem");
    std::vector<Hyper::hidden_word_t> hid = read_words<TB_MACS * TB_NH * TB_A1_W>(mem + "hid.mem");
    std::vector<Hyper::weight_word_t> w2 = read_words<TB_MACS * TB_WT_W>(mem + "w2.mem");
    std::vector<Hyper::out_word_t> outt = read_words<TB_MACS * TB_NO * TB_A2_W>(mem + "out.mem");
    std::vector<ap_uint<TB_W> > table = read_words<TB_W>(mem + "table.mem");
    if ((int)pool.size() != Hyper::NF || (int)w1.size() != Hyper::JB * TB_C || (int)hid.size() != Hyper::JB ||
        (int)w2.size() != Hyper::IB * TB_J || (int)outt.size() != Hyper::IB ||
        (int)table.size() != TB_C * Hyper::levels())
        fail("a memory file has the wrong number of words for these parameters");
    for (int f = 0; f < frames; f++)
        Hyper::run(in, out, &pool[0], &w1[0], &hid[0], &w2[0], &outt[0], &table[0]);
#elif TB_KERNEL == 3
    hls::stream<ap_uint<TB_PE * TB_W + 1> > &in = input<TB_PE * TB_W + 1>(argv[2]);
    hls::stream<ap_uint<TB_PE * TB_W> > out("out");
    frame_buffer<TB_C, TB_PE, TB_PIXELS, TB_W, TB_DATA_W>(in, out, frames);
#elif TB_KERNEL == 4
    hls::stream<ap_uint<TB_PE * TB_W> > &in = input<TB_PE * TB_W>(argv[2]);
    hls::stream<ap_uint<TB_PE> > out("out");
    std::vector<ap_uint<TB_PE> > sign = read_words<TB_PE>(mem + "sign.mem");
    if ((int)sign.size() != TB_C / TB_PE)
        fail("sign.mem has the wrong number of words");
    for (int f = 0; f < frames; f++)
        frame_threshold<TB_C, TB_PE, TB_PIXELS, TB_W>(in, out, &sign[0]);
#elif TB_KERNEL == 5
    hls::stream<ap_uint<TB_PE * TB_W> > &in = input<TB_PE * TB_W>(argv[2]);
    hls::stream<ap_uint<TB_PE * TB_OUT_W> > out("out");
    std::vector<ap_uint<TB_PE * TB_L * TB_N_THR * TB_THR_W> > table =
        read_words<TB_PE * TB_L * TB_N_THR * TB_THR_W>(mem + "table.mem");
    if ((int)table.size() != TB_C / TB_PE)
        fail("table.mem has the wrong number of words");
    for (int f = 0; f < frames; f++)
        frame_multi_threshold<TB_C, TB_PE, TB_PIXELS, TB_W, TB_L, TB_N_THR, TB_THR_W, TB_ACT_BIAS, TB_OUT_W>(
            in, out, &table[0]);
#else
#error "define TB_KERNEL as 1 .. 5"
#endif
    if (!in.empty())
        fail("input beats left over: the input does not hold FRAMES whole frames");
    write_words(out, argv[3]);
    return 0;
}
