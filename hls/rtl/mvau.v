// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// mvau -- folded matrix-vector-activation unit (FINN node `MVAU`).
//
// Computes, for every input vector x (MW elements), y = act(x . W) with W an
// MW x MH matrix of bipolar weights, folded onto PE parallel output channels
// and SIMD parallel input elements:
//   XNOR = 1 (FINN binaryXnorMode=1): x and W are 1-bit (bit 1 = +1, bit 0 = -1)
//            and the accumulator is the XNOR popcount, i.e. the number of i with
//            x[i] == W[i][c] (0 .. MW), exactly FINN's xnorpopcountmatmul.
//   XNOR = 0 : x is an IN_W-bit integer (signed if IN_SIGNED), W is bipolar
//            stored as bits (1 = +1, 0 = -1); acc = sum_i (W ? x[i] : -x[i]).
//            This is FINN's MVAU with weightDataType=BIPOLAR, binaryXnorMode=0
//            (first layer of a CNV net: UINT8 pixels x bipolar weights).
//   NO_ACT = 1 (FINN noActivation=1): output element = acc (two's complement,
//            truncated or sign-extended to OUT_W bits).
//   NO_ACT = 0 : output element = ACT_BIAS + #{ n : acc >= T[c][n] }, N_THR
//            thresholds per channel, signed, compared exactly (FINN
//            MultiThreshold semantics; the thresholds of a channel need not be
//            sorted, every one is compared on its own).  For a BIPOLAR output
//            use ACT_BIAS = 0: the emitted bit is 1 for +1 and 0 for -1.
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tvalid/m_axis_tready (one global pipeline enable).
//
// Packing (FINN convention, as npy_to_rtlsim_input with reverse_inner=True):
// element i of a beat occupies bits [i*W +: W] (element 0 in the LSBs);
// signed values are two's complement; bipolar -1/+1 is bit 0/1.
//   input beat sf of a vector : x[sf*SIMD + s] at bits [s*IN_W +: IN_W]
//   output beat nf of a vector: y[nf*PE + p]   at bits [p*OUT_W +: OUT_W]
//
// Timing: a vector takes SF*NF cycles (SF = MW/SIMD, NF = MH/PE), as FINN's
// get_exp_cycles; the input is read during the first of the NF passes and
// buffered for the others.  Back-to-back vectors run without bubbles.
// Latency: 3 cycles from the last input beat of a pass to its output beat.
//
// Memory files ($readmemh, one hex word per line, word 0 first):
//   WEIGHT_FILE: SF*NF words of PE*SIMD bits; word (nf*SF + sf) holds, at bit
//                (p*SIMD + s), the weight W[sf*SIMD + s][nf*PE + p]
//                (1 = +1 / binary 1, 0 = -1 / binary 0).
//   THRESH_FILE: (NO_ACT = 0 only) NF words of PE*N_THR*THR_W bits; word nf
//                holds, at bits [(p*N_THR + n)*THR_W +: THR_W], threshold n of
//                channel nf*PE + p, two's complement.
//   Written by tests/rtl/memfiles.py (write_mvau_weights, write_thresholds).
//
// Reset: rst_n synchronous, active low; clears valid bits and counters only.
// Submodules: threshold_count (threshold_count.v), the activation of NO_ACT = 0.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module mvau #(
    // Input vector length (FINN MW), >= 1.
    parameter MW = 16,
    // Output vector length (FINN MH), >= 1.
    parameter MH = 8,
    // Input elements per input beat, 1 .. MW, must divide MW.
    parameter SIMD = 4,
    // Output channels per output beat, 1 .. MH, must divide MH.
    parameter PE = 2,
    // 1: XNOR-popcount (1-bit inputs, requires IN_W = 1); 0: integer inputs.
    parameter XNOR = 1,
    // Input element width in bits, >= 1 (1 when XNOR = 1).
    parameter IN_W = 1,
    // XNOR = 0 only: 1 if inputs are two's complement, 0 if unsigned.
    parameter IN_SIGNED = 0,
    // 1: no activation, output the accumulator; 0: thresholding.
    parameter NO_ACT = 0,
    // NO_ACT = 0: thresholds per channel, >= 1 (2^outbits - 1, usually 1).
    parameter N_THR = 1,
    // NO_ACT = 0: threshold width in bits (two's complement), 2 .. 32.
    parameter THR_W = 16,
    // NO_ACT = 0: integer added to the threshold count (FINN ActVal; 0 for
    // BINARY and BIPOLAR outputs).
    parameter ACT_BIAS = 0,
    // Output element width in bits, >= 1; NO_ACT = 0: <= 32 and 2^OUT_W > N_THR.
    parameter OUT_W = 1,
    // Path of the weight memory file (see header).
    parameter WEIGHT_FILE = "weights.mem",
    // Path of the threshold memory file (NO_ACT = 0 only, see header).
    parameter THRESH_FILE = "thresholds.mem"
) (
    // Clock and reset
    input  wire                 clk,            // rising edge
    input  wire                 rst_n,          // synchronous, active low

    // AXI-Stream input: SIMD elements of IN_W bits per beat
    input  wire [SIMD*IN_W-1:0] s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,

    // AXI-Stream output: PE elements of OUT_W bits per beat
    output wire [PE*OUT_W-1:0]  m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

// synthesis-time constants
localparam SF = MW / SIMD;                      // input beats per vector
localparam NF = MH / PE;                        // output beats per vector
localparam WMEM = SF * NF;                      // weight words
localparam SF_W = (SF > 1) ? $clog2(SF) : 1;
localparam NF_W = (NF > 1) ? $clog2(NF) : 1;
localparam WA_W = (WMEM > 1) ? $clog2(WMEM) : 1;
// signed accumulator width: |acc| <= MW * 2^IN_W
localparam ACC_W = IN_W + $clog2(MW + 1) + 1;
localparam IW = SIMD * IN_W;                    // input beat width
localparam WW = PE * SIMD;                      // weight word width
localparam TW = PE * N_THR * THR_W;             // threshold word width
localparam [31:0] SF_LAST32 = SF - 1;
localparam [31:0] NF_LAST32 = NF - 1;
localparam [31:0] WA_LAST32 = WMEM - 1;
localparam [SF_W-1:0] SF_LAST = SF_LAST32[SF_W-1:0];
localparam [NF_W-1:0] NF_LAST = NF_LAST32[NF_W-1:0];
localparam [WA_W-1:0] WA_LAST = WA_LAST32[WA_W-1:0];

// parameter checks (simulation; Yosys stops on the unknown task)
initial begin
    if (MW < 1 || MH < 1 || SIMD < 1 || PE < 1) begin
        $error("mvau: MW, MH, SIMD, PE must be >= 1 (instance %m)");
        $finish;
    end
    if (MW % SIMD != 0 || MH % PE != 0) begin
        $error("mvau: SIMD must divide MW and PE must divide MH (instance %m)");
        $finish;
    end
    if (XNOR != 0 && IN_W != 1) begin
        $error("mvau: XNOR = 1 requires IN_W = 1 (instance %m)");
        $finish;
    end
    if (NO_ACT == 0 && (N_THR < 1 || THR_W < 2 || THR_W > 32 || OUT_W > 32 ||
                        (1 << OUT_W) <= N_THR)) begin
        $error("mvau: need N_THR >= 1, 2 <= THR_W <= 32, OUT_W <= 32, 2^OUT_W > N_THR (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------------------
// Global pipeline enable: everything advances unless the output is stalled.
wire en = !m_axis_tvalid || m_axis_tready;

// ---------------------------------------------------------------------------
// Stage A: fold counters, input buffer, weight read.
reg  [SF_W-1:0] sf_cnt;
reg  [NF_W-1:0] nf_cnt;
reg  [WA_W-1:0] wa_cnt;
wire            first_pass = (nf_cnt == {NF_W{1'b0}});
wire            issue = en && (!first_pass || s_axis_tvalid);

assign s_axis_tready = en && first_pass;

reg  [WW-1:0]   wmem [0:WMEM-1];
initial $readmemh(WEIGHT_FILE, wmem);

reg  [IW-1:0]   x_b;               // stage B input
reg  [WW-1:0]   w_b;               // stage B weights
reg             b_v;
reg             b_first;
reg             b_last;
reg  [NF_W-1:0] b_nf;

wire [IW-1:0]   x_a;                            // input beat of this cycle
generate
    if (NF > 1) begin : g_ibuf
        reg [IW-1:0] ibuf [0:SF-1];
        always @(posedge clk) begin
            if (issue && first_pass)
                ibuf[sf_cnt] <= s_axis_tdata;
        end
        assign x_a = first_pass ? s_axis_tdata : ibuf[sf_cnt];
    end else begin : g_noibuf
        assign x_a = s_axis_tdata;
    end
endgenerate

always @(posedge clk) begin
    if (issue) begin
        w_b <= wmem[wa_cnt];
        x_b <= x_a;
        b_first <= (sf_cnt == {SF_W{1'b0}});
        b_last <= (sf_cnt == SF_LAST);
        b_nf <= nf_cnt;
        sf_cnt <= (sf_cnt == SF_LAST) ? {SF_W{1'b0}} : sf_cnt + 1'b1;
        wa_cnt <= (wa_cnt == WA_LAST) ? {WA_W{1'b0}} : wa_cnt + 1'b1;
        if (sf_cnt == SF_LAST)
            nf_cnt <= (nf_cnt == NF_LAST) ? {NF_W{1'b0}} : nf_cnt + 1'b1;
    end
    if (en)
        b_v <= issue;
    if (!rst_n) begin
        sf_cnt <= {SF_W{1'b0}};
        nf_cnt <= {NF_W{1'b0}};
        wa_cnt <= {WA_W{1'b0}};
        b_v <= 1'b0;
    end
end

// ---------------------------------------------------------------------------
// Stage B: per-PE partial dot products, accumulation.
reg  [PE*ACC_W-1:0] acc;
wire [PE*ACC_W-1:0] acc_next;
reg  [PE*ACC_W-1:0] c_acc;  // stage C accumulator
reg                 c_v;

genvar gp;
generate
    for (gp = 0; gp < PE; gp = gp + 1) begin : g_dot
        reg [ACC_W-1:0] dot;
        integer s;
        if (XNOR != 0) begin : g_xnor
            always @* begin
                dot = {ACC_W{1'b0}};
                for (s = 0; s < SIMD; s = s + 1)
                    dot = dot + {{(ACC_W-1){1'b0}}, ~(x_b[s] ^ w_b[gp*SIMD+s])};
            end
        end else begin : g_int
            reg [ACC_W-1:0] xe;
            always @* begin
                dot = {ACC_W{1'b0}};
                xe = {ACC_W{1'b0}};
                for (s = 0; s < SIMD; s = s + 1) begin
                    xe = {{(ACC_W-IN_W){(IN_SIGNED != 0) && x_b[s*IN_W+IN_W-1]}},
                          x_b[s*IN_W +: IN_W]};
                    if (w_b[gp*SIMD+s])
                        dot = dot + xe;
                    else
                        dot = dot - xe;
                end
            end
        end
        assign acc_next[gp*ACC_W +: ACC_W] =
            b_first ? dot : acc[gp*ACC_W +: ACC_W] + dot;
    end
endgenerate

always @(posedge clk) begin
    if (en) begin
        if (b_v)
            acc <= acc_next;
        c_acc <= acc_next;
        c_v <= b_v && b_last;
    end
    if (!rst_n)
        c_v <= 1'b0;
end

// ---------------------------------------------------------------------------
// Stage C: activation (thresholds read in stage B), output register.
reg  [PE*OUT_W-1:0] out_q;
reg                 out_v;
wire [PE*OUT_W-1:0] out_next;

generate
    if (NO_ACT != 0) begin : g_noact
        // the fold index is only needed to address thresholds
        wire unused_noact = &{1'b0, b_nf, c_acc};
        for (gp = 0; gp < PE; gp = gp + 1) begin : g_pe
            if (OUT_W <= ACC_W) begin : g_trunc
                assign out_next[gp*OUT_W +: OUT_W] = c_acc[gp*ACC_W +: OUT_W];
            end else begin : g_sext
                assign out_next[gp*OUT_W +: OUT_W] =
                    {{(OUT_W-ACC_W){c_acc[gp*ACC_W+ACC_W-1]}}, c_acc[gp*ACC_W +: ACC_W]};
            end
        end
    end else begin : g_act
        reg [TW-1:0] tmem [0:NF-1];
        initial $readmemh(THRESH_FILE, tmem);
        reg [TW-1:0] t_c;
        always @(posedge clk) begin
            if (en)
                t_c <= tmem[b_nf];
        end
        threshold_count #(
            .PE(PE), .IN_W(ACC_W), .IN_SIGNED(1), .N_THR(N_THR), .THR_W(THR_W),
            .ACT_BIAS(ACT_BIAS), .OUT_W(OUT_W)
        ) u_count (
            .x(c_acc),
            .t(t_c),
            .y(out_next)
        );
    end
endgenerate

always @(posedge clk) begin
    if (en) begin
        out_q <= out_next;
        out_v <= c_v;
    end
    if (!rst_n)
        out_v <= 1'b0;
end

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

`resetall
