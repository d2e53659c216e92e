// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: C++14, Vitis-HLS style (ap_int, hls::stream); C-simulated with g++
//
// frame_units -- HLS kernels of per-sample (per-frame) thresholds, one frame per
// call, with the stream formats and memory layouts of the RTL modules in
// hls/rtl/dynamic_threshold/ (frame_channel_sums.v, hyper_function.v,
// frame_buffer.v, frame_threshold.v and frame_multi_threshold.v; see their
// headers), so that both run on the same vectors.  Semantics:
// hw_bnn/features/dynamic_threshold/reference.py.
//
// Streams carry beats of PE lanes (lane e of fold g is channel g*PE+e, lane 0
// in the LSBs, two's complement).  Per frame: F = PIXELS*C/PE payload beats and
// NF = C/PE side beats (sums or thresholds).

#ifndef HW_BNN_FRAME_UNITS_HPP
#define HW_BNN_FRAME_UNITS_HPP

#include <ap_int.h>
#include <hls_stream.h>

// Signed field e of width W of a word.
template <int W, int N>
ap_int<W> field(const ap_uint<N> &word, int e) {
    ap_int<W> value;
    value.range(W - 1, 0) = word.range(e * W + W - 1, e * W);
    return value;
}

// The sums of a frame: pass F payload beats (extended to OUT_W: sign-extended when IN_SIGNED, else
// zero-extended, e.g. XNOR popcounts), then NF sum beats.
template <int C, int PE, int PIXELS, int IN_W, int IN_SIGNED, int OUT_W>
void frame_channel_sums(hls::stream<ap_uint<PE * IN_W> > &in, hls::stream<ap_uint<PE * OUT_W> > &out) {
    const int NF = C / PE;
    ap_int<OUT_W> sums[C];
    for (int p = 0; p < PIXELS; p++) {
        for (int g = 0; g < NF; g++) {
#pragma HLS PIPELINE II = 1
            ap_uint<PE * IN_W> beat = in.read();
            ap_uint<PE * OUT_W> wide;
            for (int e = 0; e < PE; e++) {
                ap_uint<IN_W> bits = beat.range(e * IN_W + IN_W - 1, e * IN_W);
                ap_int<OUT_W> x = IN_SIGNED ? ap_int<OUT_W>(field<IN_W>(beat, e)) : ap_int<OUT_W>(bits);
                wide.range(e * OUT_W + OUT_W - 1, e * OUT_W) = x.range(OUT_W - 1, 0);
                sums[g * PE + e] = (p == 0) ? x : ap_int<OUT_W>(sums[g * PE + e] + x);
            }
            out.write(wide);
        }
    }
    for (int g = 0; g < NF; g++) {
#pragma HLS PIPELINE II = 1
        ap_uint<PE * OUT_W> beat;
        for (int e = 0; e < PE; e++)
            beat.range(e * OUT_W + OUT_W - 1, e * OUT_W) = sums[g * PE + e].range(OUT_W - 1, 0);
        out.write(beat);
    }
}

// Number of thresholds k < N with value >= field k of width TW at bit offset `base` of `word`.
template <int TW, int N, int VW, int WORD_W>
int count_at_least(const ap_int<VW> &value, const ap_uint<WORD_W> &word, int base) {
    int count = 0;
    for (int k = 0; k < N; k++) {
        ap_int<TW> t;
        t.range(TW - 1, 0) = word.range(base + k * TW + TW - 1, base + k * TW);
        count += (value >= t) ? 1 : 0;
    }
    return count;
}

// The hyper-function of one frame: F payload beats pass with tag 0, then from the NF sum beats
// the NF threshold beats leave with tag 1 (the tag is bit PE*W).
template <int C, int PE, int PIXELS, int W, int J, int HEADS, int NP, int POOL_OFFSET, int P_W, int WT_W,
          int A1_W, int NH, int H_W, int A2_W, int NO, int MACS>
struct hyper_function {
    static const int NF = C / PE;
    static const int I = HEADS * C;
    static const int JB = (J + MACS - 1) / MACS;
    static const int IB = (I + MACS - 1) / MACS;
    static const int LWP = 1 + NP * (W + 1);
    typedef ap_uint<PE * LWP> pool_word_t;
    typedef ap_uint<MACS * WT_W> weight_word_t;
    typedef ap_uint<MACS * NH * A1_W> hidden_word_t;
    typedef ap_uint<MACS * NO * A2_W> out_word_t;

    static int levels() {
        int l = 1;
        for (int h = 0; h < HEADS; h++)
            l *= NO + 1;
        return l;
    }

    static void run(hls::stream<ap_uint<PE * W> > &in, hls::stream<ap_uint<PE * W + 1> > &out,
                    const pool_word_t pool[], const weight_word_t w1[], const hidden_word_t hid[],
                    const weight_word_t w2[], const out_word_t outt[], const ap_uint<W> table[]) {
        for (int b = 0; b < PIXELS * NF; b++) {
#pragma HLS PIPELINE II = 1
            out.write(ap_uint<PE * W + 1>(in.read()));
        }
        ap_int<P_W> pooled[C];
        for (int g = 0; g < NF; g++) {
            ap_uint<PE * W> beat = in.read();
            for (int e = 0; e < PE; e++) {
                ap_int<W + 1> sum = field<W>(beat, e);
                ap_uint<LWP> lane = pool[g].range(e * LWP + LWP - 1, e * LWP);
                ap_int<W + 1> signed_sum = lane[0] ? ap_int<W + 1>(-sum) : sum;
                pooled[g * PE + e] = POOL_OFFSET + count_at_least<W + 1, NP>(signed_sum, lane, 1);
            }
        }
        ap_uint<H_W> hidden[JB * MACS];
        for (int b = 0; b < JB; b++) {
            for (int l = 0; l < MACS; l++) {
                ap_int<A1_W> acc = 0;
                for (int c = 0; c < C; c++)
                    acc += field<WT_W>(w1[b * C + c], l) * pooled[c];
                hidden[b * MACS + l] = count_at_least<A1_W, NH>(acc, hid[b], l * NH * A1_W);
            }
        }
        int codes[IB * MACS];
        for (int b = 0; b < IB; b++) {
            for (int l = 0; l < MACS; l++) {
                ap_int<A2_W> acc = 0;
                for (int j = 0; j < J; j++)
                    acc += field<WT_W>(w2[b * J + j], l) * ap_int<H_W + 1>(hidden[j]);
                codes[b * MACS + l] = count_at_least<A2_W, NO>(acc, outt[b], l * NO * A2_W);
            }
        }
        for (int g = 0; g < NF; g++) {
            ap_uint<PE * W + 1> beat = 0;
            for (int e = 0; e < PE; e++) {
                int c = g * PE + e, index = 0;
                for (int h = 0; h < HEADS; h++)
                    index = index * (NO + 1) + codes[h * C + c];
                beat.range(e * W + W - 1, e * W) = table[c * levels() + index];
            }
            beat[PE * W] = 1;
            out.write(beat);
        }
    }
};

// The frame buffer over a tagged stream of `frames` frames: payload beats (tag 0) and side beats
// (tag 1) queue separately; each frame leaves as its NF side beats, then its F payload beats
// sign-extended from DATA_W bits back to W.
template <int C, int PE, int PIXELS, int W, int DATA_W>
void frame_buffer(hls::stream<ap_uint<PE * W + 1> > &in, hls::stream<ap_uint<PE * W> > &out, int frames) {
    const int NF = C / PE, F = PIXELS * NF;
    hls::stream<ap_uint<PE * W> > payload("payload"), side("side");
    int emitted = 0;
    while (emitted < frames) {
        if ((int)side.size() >= NF && (int)payload.size() >= F) {
            for (int g = 0; g < NF; g++)
                out.write(side.read());
            for (int b = 0; b < F; b++) {
                ap_uint<PE * W> beat = payload.read(), wide;
                for (int e = 0; e < PE; e++) {
                    ap_int<DATA_W> stored;  // the DATA_W bits the buffer keeps of each element
                    stored.range(DATA_W - 1, 0) = beat.range(e * W + DATA_W - 1, e * W);
                    ap_int<W> v = stored;
                    wide.range(e * W + W - 1, e * W) = v.range(W - 1, 0);
                }
                out.write(wide);
            }
            emitted++;
            continue;
        }
        ap_uint<PE * W + 1> beat = in.read();  // a legal stream never runs dry here
        if (beat[PE * W])
            side.write(beat.range(PE * W - 1, 0));
        else
            payload.write(beat.range(PE * W - 1, 0));
    }
}

// Binarise one frame: NF threshold beats, then F payload beats -> F beats of PE bits,
// bit = [s*acc >= T[c]] in W+1 bits, s = -1 where bit e of sign word g is set.
template <int C, int PE, int PIXELS, int W>
void frame_threshold(hls::stream<ap_uint<PE * W> > &in, hls::stream<ap_uint<PE> > &out, const ap_uint<PE> sign[]) {
    const int NF = C / PE;
    ap_uint<PE * W> thresholds[NF];
    for (int g = 0; g < NF; g++)
        thresholds[g] = in.read();
    for (int p = 0; p < PIXELS; p++) {
        for (int g = 0; g < NF; g++) {
#pragma HLS PIPELINE II = 1
            ap_uint<PE * W> beat = in.read();
            ap_uint<PE> bits;
            for (int e = 0; e < PE; e++) {
                ap_int<W + 1> acc = field<W>(beat, e);
                ap_int<W + 1> t = field<W>(thresholds[g], e);
                bits[e] = ((sign[g][e] ? ap_int<W + 1>(-acc) : acc) >= t) ? 1 : 0;
            }
            out.write(bits);
        }
    }
}

// Bits that address n entries: ceil(log2(n)), 0 for n = 1.
constexpr int address_bits(int n) { return n <= 1 ? 0 : 1 + address_bits((n + 1) / 2); }

// Multi-threshold one frame against the table entry each channel's index selects: NF index beats (lane e of
// beat g: the index of channel g*PE+e in the low bits of W), then F payload beats -> F beats of PE lanes of OUT_W
// bits, y = ACT_BIAS + #{n : x >= T[c][idx][n]} modulo 2^OUT_W.  Index bits above those that address the L entries
// are ignored, and an index from L up selects entry L-1.  Table word g holds threshold n of entry j of channel
// g*PE+e at bits [((e*L + j)*N_THR + n)*THR_W +: THR_W].
template <int C, int PE, int PIXELS, int W, int L, int N_THR, int THR_W, int ACT_BIAS, int OUT_W>
void frame_multi_threshold(hls::stream<ap_uint<PE * W> > &in, hls::stream<ap_uint<PE * OUT_W> > &out,
                           const ap_uint<PE * L * N_THR * THR_W> table[]) {
    const int NF = C / PE, ROW_W = N_THR * THR_W, ADDRESS_MASK = (1 << address_bits(L)) - 1;
    ap_uint<ROW_W> rows[C];
    for (int g = 0; g < NF; g++) {
#pragma HLS PIPELINE II = 1
        ap_uint<PE * W> beat = in.read();
        for (int e = 0; e < PE; e++) {
            int entry = int(beat.range(e * W + W - 1, e * W)) & ADDRESS_MASK;
            entry = entry < L ? entry : L - 1;
            const int base = (e * L + entry) * ROW_W;
            rows[g * PE + e] = table[g].range(base + ROW_W - 1, base);
        }
    }
    for (int p = 0; p < PIXELS; p++) {
        for (int g = 0; g < NF; g++) {
#pragma HLS PIPELINE II = 1
            ap_uint<PE * W> beat = in.read();
            ap_uint<PE * OUT_W> levels;
            for (int e = 0; e < PE; e++) {
                ap_int<OUT_W> y = ACT_BIAS + count_at_least<THR_W, N_THR>(field<W>(beat, e), rows[g * PE + e], 0);
                levels.range(e * OUT_W + OUT_W - 1, e * OUT_W) = y.range(OUT_W - 1, 0);
            }
            out.write(levels);
        }
    }
}

#endif
