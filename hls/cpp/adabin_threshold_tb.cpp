// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: C++14 (g++ with Xilinx's open-source ap_types, or Vitis HLS C simulation)
//
// adabin_threshold_tb -- file-driven test bench of adabin_threshold.hpp, so that
// Python (tests/test_hls_cpp.py) can feed vectors and read the output beats.
//
// Build: the kernel's template parameters come from -D flags:
//   g++ -std=c++14 -O2 -I <ap_types> -I hls/cpp -DTB_C=8 -DTB_PE=2 -DTB_ACC_W=12
//       -DTB_COEF_W=8 -DTB_THR_W=20 hls/cpp/adabin_threshold_tb.cpp -o tb
// (hw_bnn/hls.py compile_kernel_test does this.)
//
// Usage: tb IN_FILE OUT_FILE     ("-" for stdin / stdout)
//
// IN_FILE: whitespace-separated tokens, '#' starts a comment to the end of the line.
//   MODE VECTORS      MODE is the word "threshold" or "pass"; VECTORS is decimal
//   NF parameter words (threshold mode only; none in pass mode): word nf in the
//                     layout of adabin_threshold.hpp (PE*LANE_W bits)
//   VECTORS*NF input beats ((PE+1)*ACC_W bits each), vector by vector
// Words and beats are unsigned hexadecimal (optional 0x prefix), fields packed
// as in adabin_threshold.hpp (two's complement inside their bit ranges); the
// parameter words are exactly the lines of the RTL's $readmemh parameter file.
//
// OUT_FILE: one output beat per line, VECTORS*NF lines, lowercase hexadecimal
// zero-padded to ceil(width/4) digits; width PE bits in threshold mode,
// (PE+1)*ACC_W bits in pass mode.
//
// Exit status 0 on success; 1 with a message on stderr for a malformed file.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

// Beats and parameter words can exceed ap_uint's default 1024-bit limit (e.g. PE=8 with wide fields).
#ifndef AP_INT_MAX_W
#define AP_INT_MAX_W 4096
#endif
#include "adabin_threshold.hpp"

#if !defined(TB_C) || !defined(TB_PE) || !defined(TB_ACC_W) || !defined(TB_COEF_W) || !defined(TB_THR_W)
#error "define TB_C, TB_PE, TB_ACC_W, TB_COEF_W and TB_THR_W (-D flags)"
#endif

static const unsigned NF = TB_C / TB_PE;
typedef adabin_widths<TB_PE, TB_ACC_W, TB_COEF_W, TB_THR_W> Widths;
typedef ap_uint<Widths::IN_W> in_beat_t;
typedef ap_uint<Widths::PARAM_W> param_t;
typedef ap_uint<TB_PE> out_beat_t;

static void fail(const std::string &msg) {
    std::cerr << "adabin_threshold_tb: " << msg << std::endl;
    std::exit(1);
}

// Parse an unsigned hexadecimal token into W bits; a value wider than W bits is an error.
template <int W>
static ap_uint<W> parse_hex(const std::string &tok, const char *what) {
    size_t i = (tok.size() > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')) ? 2 : 0;
    if (i == tok.size()) fail(std::string("empty ") + what);
    ap_uint<W + 4> v = 0;
    for (; i < tok.size(); i++) {
        const char ch = tok[i];
        int d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
        else fail(std::string("bad hex digit in ") + what + " '" + tok + "'");
        v = (v << 4) | ap_uint<W + 4>(d);
        if ((v >> W) != 0) fail(std::string(what) + " '" + tok + "' does not fit in " + std::to_string(W) + " bits");
    }
    return ap_uint<W>(v);
}

template <int W>
static std::string to_hex(const ap_uint<W> &v) {
    const int ndig = (W + 3) / 4;
    std::string s(ndig, '0');
    for (int i = 0; i < ndig; i++) {
        const ap_uint<4> nib = v >> (4 * i);
        s[ndig - 1 - i] = "0123456789abcdef"[nib.to_uint()];
    }
    return s;
}

int main(int argc, char **argv) {
    if (argc != 3) fail("usage: adabin_threshold_tb IN_FILE OUT_FILE ('-' for stdin/stdout)");
    std::ifstream fin;
    std::istream *is = &std::cin;
    if (std::string(argv[1]) != "-") {
        fin.open(argv[1]);
        if (!fin) fail(std::string("cannot open ") + argv[1]);
        is = &fin;
    }
    // Tokenise, dropping comments.
    std::vector<std::string> toks;
    std::string line;
    while (std::getline(*is, line)) {
        const size_t hash = line.find('#');
        if (hash != std::string::npos) line.erase(hash);
        std::istringstream ls(line);
        std::string t;
        while (ls >> t) toks.push_back(t);
    }
    if (toks.size() < 2) fail("missing 'MODE VECTORS' header");
    const std::string mode = toks[0];
    if (mode != "threshold" && mode != "pass") fail("MODE must be 'threshold' or 'pass', got '" + mode + "'");
    char *end = nullptr;
    const unsigned long vectors = std::strtoul(toks[1].c_str(), &end, 10);
    if (*end != '\0') fail("VECTORS must be a decimal integer, got '" + toks[1] + "'");

    const bool pass = mode == "pass";
    const size_t n_params = pass ? 0 : NF;
    const size_t n_beats = vectors * NF;
    if (toks.size() != 2 + n_params + n_beats)
        fail("expected " + std::to_string(n_params) + " parameter words and " + std::to_string(n_beats) +
             " input beats, got " + std::to_string(toks.size() - 2) + " tokens");

    static param_t params[NF];
    for (size_t k = 0; k < n_params; k++) params[k] = parse_hex<Widths::PARAM_W>(toks[2 + k], "parameter word");
    hls::stream<in_beat_t> in("in");
    for (size_t k = 0; k < n_beats; k++) in.write(parse_hex<Widths::IN_W>(toks[2 + n_params + k], "input beat"));

    std::ostringstream os;
    if (pass) {
        hls::stream<in_beat_t> out("out");
        adabin_threshold_pass<TB_C, TB_PE, TB_ACC_W>(in, out, vectors);
        for (size_t k = 0; k < n_beats; k++) os << to_hex(out.read()) << '\n';
        if (!out.empty()) fail("kernel wrote more beats than expected");
    } else {
        hls::stream<out_beat_t> out("out");
        adabin_threshold<TB_C, TB_PE, TB_ACC_W, TB_COEF_W, TB_THR_W>(in, out, params, vectors);
        for (size_t k = 0; k < n_beats; k++) os << to_hex(out.read()) << '\n';
        if (!out.empty()) fail("kernel wrote more beats than expected");
    }
    if (!in.empty()) fail("kernel left input beats unread");

    if (std::string(argv[2]) == "-") {
        std::cout << os.str();
    } else {
        std::ofstream fout(argv[2]);
        if (!fout) fail(std::string("cannot open ") + argv[2]);
        fout << os.str();
        if (!fout) fail(std::string("cannot write ") + argv[2]);
    }
    return 0;
}
