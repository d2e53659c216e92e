// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: C++14, Vitis HLS (C simulation also with g++ and Xilinx's open-source ap_types)
//
// adabin_threshold -- AdaBin combine-and-threshold unit, folded over PE lanes.
//
// For every output channel c of a vector (pixel), from the two integer
// accumulators of an XNOR unit that also counts its input window:
//     L     = A[c]*acc_x[c] + B[c]*acc_a             (exact, no rounding, no overflow)
//     count = (L >= T0[c]) + (L >= T1[c])            (0, 1 or 2)
//     bit   = (DECODE[c] >> count) & 1
// The defining model is adabin_threshold_reference() in
// hw_bnn/features/adabin/reference.py; thresholds need not be sorted or
// reachable.  This kernel matches hls/rtl/adabin/adabin_threshold.v bit for bit
// (same stream packing, same parameter word layout).
//
// Channels are folded onto PE lanes: a vector is NF = C/PE beats, beat nf
// carrying channels nf*PE .. nf*PE+PE-1.
//
// Packing (FINN convention, element 0 in the LSBs, two's complement):
//   input beat  ((PE+1)*ACC_W bits):
//     [p*ACC_W  +: ACC_W]  acc_x of channel nf*PE + p, p = 0 .. PE-1
//     [PE*ACC_W +: ACC_W]  acc_a of the vector (the same value in all NF beats)
//   output beat (PE bits): bit p = channel nf*PE + p
//
// Parameters (the RTL's parameter memory, one word per nf): params[nf] is a
// PE*LANE_W-bit word, LANE_W = 2*COEF_W + 2*THR_W + 3; lane p at
// [p*LANE_W +: LANE_W] holds channel nf*PE + p with fields from the LSB:
//     [0            +: COEF_W]  A       (two's complement)
//     [COEF_W       +: COEF_W]  B       (two's complement)
//     [2*COEF_W     +: THR_W]   T0      (two's complement)
//     [2*COEF_W+THR_W   +: THR_W] T1    (two's complement)
//     [2*COEF_W+2*THR_W +: 3]   DECODE  (bit k = output for count k)
//
// Template parameters:
//   C       channels, >= 1
//   PE      channels per beat, 1 .. C, must divide C
//   ACC_W   accumulator width (acc_x and acc_a), two's complement
//   COEF_W  width of A and B, two's complement
//   THR_W   width of T0 and T1, two's complement
// L is computed in ACC_W+COEF_W+1 bits, which holds every product sum exactly.
// ap_uint is limited to AP_INT_MAX_W bits (default 1024): for wider beats or
// parameter words define AP_INT_MAX_W (<= 32768) before including ap_int.h.
//
// Functions:
//   adabin_threshold<C,PE,ACC_W,COEF_W,THR_W>(in, out, params, vectors)
//       the threshold mode: vectors*NF beats in, vectors*NF beats out.
//   adabin_threshold_pass<C,PE,ACC_W>(in, out, vectors)
//       the PASS mode (last layer, accumulators leave unthresholded): each of
//       the vectors*NF input beats is written out unchanged.
//
// Timing: both loops are pipelined at II=1, one beat in and one out per cycle.

#ifndef HW_BNN_ADABIN_THRESHOLD_HPP
#define HW_BNN_ADABIN_THRESHOLD_HPP

#include <ap_int.h>
#include <hls_stream.h>

// Widths derived from the template parameters (shared by kernel and test bench).
template <unsigned PE, unsigned ACC_W, unsigned COEF_W, unsigned THR_W>
struct adabin_widths {
    static const unsigned LANE_W = 2 * COEF_W + 2 * THR_W + 3;  // one channel's parameters
    static const unsigned PARAM_W = PE * LANE_W;                 // one parameter word
    static const unsigned IN_W = (PE + 1) * ACC_W;               // one input beat
    static const unsigned LEVEL_W = ACC_W + COEF_W + 1;          // exact A*x + B*a
};

template <unsigned C, unsigned PE, unsigned ACC_W, unsigned COEF_W, unsigned THR_W>
void adabin_threshold(hls::stream<ap_uint<(PE + 1) * ACC_W> > &in,
                      hls::stream<ap_uint<PE> > &out,
                      const ap_uint<PE * (2 * COEF_W + 2 * THR_W + 3)> params[C / PE],
                      unsigned vectors) {
    static_assert(PE >= 1 && C % PE == 0, "PE must divide C");
    static_assert(ACC_W >= 1 && COEF_W >= 1 && THR_W >= 1, "widths must be >= 1");
    typedef adabin_widths<PE, ACC_W, COEF_W, THR_W> W;
    const unsigned NF = C / PE;
    const unsigned LW = W::LANE_W;

    unsigned nf = 0;
beats:
    for (unsigned i = 0; i < vectors * NF; i++) {
#pragma HLS PIPELINE II=1
        const ap_uint<W::IN_W> beat = in.read();
        const ap_uint<W::PARAM_W> word = params[nf];
        const ap_int<ACC_W> acc_a = beat.range(PE * ACC_W + ACC_W - 1, PE * ACC_W);
        ap_uint<PE> bits = 0;
    lanes:
        for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
            const ap_int<ACC_W> acc_x = beat.range(p * ACC_W + ACC_W - 1, p * ACC_W);
            const ap_uint<LW> lane = word.range(p * LW + LW - 1, p * LW);
            const ap_int<COEF_W> a = lane.range(COEF_W - 1, 0);
            const ap_int<COEF_W> b = lane.range(2 * COEF_W - 1, COEF_W);
            const ap_int<THR_W> t0 = lane.range(2 * COEF_W + THR_W - 1, 2 * COEF_W);
            const ap_int<THR_W> t1 = lane.range(2 * COEF_W + 2 * THR_W - 1, 2 * COEF_W + THR_W);
            const ap_uint<3> decode = lane.range(LW - 1, LW - 3);
            const ap_int<ACC_W + COEF_W> ax = a * acc_x;
            const ap_int<ACC_W + COEF_W> ba = b * acc_a;
            const ap_int<W::LEVEL_W> level = ax + ba;
            const ap_uint<2> count = ap_uint<2>(level >= t0) + ap_uint<2>(level >= t1);
            bits[p] = decode[count];
        }
        out.write(bits);
        nf = (nf == NF - 1) ? 0 : nf + 1;
    }
}

template <unsigned C, unsigned PE, unsigned ACC_W>
void adabin_threshold_pass(hls::stream<ap_uint<(PE + 1) * ACC_W> > &in,
                           hls::stream<ap_uint<(PE + 1) * ACC_W> > &out,
                           unsigned vectors) {
    static_assert(PE >= 1 && C % PE == 0, "PE must divide C");
    const unsigned NF = C / PE;
beats:
    for (unsigned i = 0; i < vectors * NF; i++) {
#pragma HLS PIPELINE II=1
        out.write(in.read());
    }
}

#endif  // HW_BNN_ADABIN_THRESHOLD_HPP
