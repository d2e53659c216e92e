// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// frame_multi_threshold -- multi-threshold activation of a frame against
// thresholds selected by table indices sent ahead of it (hw_bnn node
// `FrameMultiThreshold`, DyBNN's per-sample RPReLU on a multi-bit stream).
//
// Per frame the input is NF = C/PE index beats (lane e of beat g holds
// idx[c] of channel c = g*PE+e, an integer 0 .. L-1 in the low bits of the
// W-bit element, upper bits 0), then F = PIXELS*NF payload beats of the
// signed W-bit map x (beat p*NF+g, lane e: channel g*PE+e at pixel p).  Every
// payload element x of channel c becomes
//     y = ACT_BIAS + #{ n : x >= T[c][idx[c]][n] },  n = 0 .. N_THR-1
// modulo 2^OUT_W, each threshold compared on its own in max(W, THR_W)+1 bits
// (unsorted thresholds are handled exactly;
// hw_bnn/features/dynamic_threshold/reference.py frame_threshold with a row
// of N_THR thresholds per channel).  Index bits above those that address the
// L entries are ignored; an index in L .. 2^$clog2(L)-1 selects entry L-1.
// The output is F beats, lane e of beat k the y of payload beat k, lane e.
//
// While index beat g arrives, table word g is read asynchronously and every
// lane selects its entry (an L:1 multiplexer of N_THR*THR_W bits); the
// selected thresholds of the frame are kept in thresholds[0:NF-1].
//
// Stream protocol and packing as thresholding.v (element 0 in the LSBs):
//   input  beat: lane e at bits [e*W +: W]
//   output beat: lane e at bits [e*OUT_W +: OUT_W], two's complement
//
// Timing: index beats load at one per cycle, payload beats pass at one per
// cycle; latency 1 cycle.
//
// Memory file ($readmemh, one hex word per line):
//   TABLE_FILE: NF words of PE*L*N_THR*THR_W bits; word g holds, at bits
//               [((e*L + j)*N_THR + n)*THR_W +: THR_W], threshold n of entry j
//               of channel g*PE+e, T[g*PE+e][j][n], two's complement.
//
// Reset: rst_n synchronous, active low; clears valid bits and counters only.
//
// The load/pass sequencing (loading, fold, pixel, out_v) is frame_threshold.v's.
// It stays written out in each module rather than in a shared submodule: the
// `fold` register addresses thresholds[], and Yosys folds a read-address
// register into a block RAM's synchronous read only within one module (ECP5
// and iCE40 synthesis keeps the hierarchy), so a sequencer of its own would
// keep the per-frame thresholds out of block RAM.
//
// Used by: hw_bnn node FrameMultiThreshold (hw_bnn/features/dynamic_threshold).
// Submodules: threshold_count (threshold_count.v), the compare and count.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module frame_multi_threshold #(
    // Number of channels, >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Pixels per frame, >= 1.
    parameter PIXELS = 4,
    // Element width of indices and payload x in bits (x two's complement), 2 .. 48.
    parameter W = 12,
    // Table entries per channel (index range 0 .. L-1), 1 .. 2^W.
    parameter L = 8,
    // Thresholds per table entry, >= 1.
    parameter N_THR = 15,
    // Threshold width in bits (two's complement), 2 .. 48.
    parameter THR_W = 12,
    // Integer added to the threshold count (the lowest output level, e.g. -8).
    parameter ACT_BIAS = -8,
    // Output element width in bits (two's complement), 2 .. 32, 2^OUT_W > N_THR.
    parameter OUT_W = 4,
    // Path of the table memory file (see header).
    parameter TABLE_FILE = "table.mem"
) (
    input  wire                 clk,
    input  wire                 rst_n,
    input  wire [PE*W-1:0]      s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,
    output wire [PE*OUT_W-1:0]  m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

localparam NF = C / PE;
localparam NF_W = (NF > 1) ? $clog2(NF) : 1;
localparam PX_W = (PIXELS > 1) ? $clog2(PIXELS) : 1;
localparam IDX_W = (L > 1) ? $clog2(L) : 1;     // index bits that address the entries
localparam ENT_W = N_THR * THR_W;               // one table entry of one lane
localparam [31:0] NF_LAST32 = NF - 1;
localparam [NF_W-1:0] NF_LAST = NF_LAST32[NF_W-1:0];
localparam [31:0] PX_LAST32 = PIXELS - 1;
localparam [PX_W-1:0] PX_LAST = PX_LAST32[PX_W-1:0];

initial begin
    if (C < 1 || PE < 1 || C % PE != 0 || PIXELS < 1 || W < 2 || W > 48 || L < 1 || IDX_W > W ||
        N_THR < 1 || THR_W < 2 || THR_W > 48 || OUT_W < 2 || OUT_W > 32 ||
        (OUT_W < 32 && (1 << OUT_W) <= N_THR)) begin
        $error("frame_multi_threshold: illegal parameters (instance %m)");
        $finish;
    end
end

reg  [PE*L*ENT_W-1:0] table_mem [0:NF-1];
initial $readmemh(TABLE_FILE, table_mem);

reg             loading;        // 1 while the indices of a frame arrive
reg  [NF_W-1:0] fold;
reg  [PX_W-1:0] pixel;
reg  [PE*ENT_W-1:0] thresholds [0:NF-1];
reg  [PE*OUT_W-1:0] out_q;
reg             out_v;

wire en = !out_v || m_axis_tready;
assign s_axis_tready = loading || en;
wire take = s_axis_tready && s_axis_tvalid;

// ---- each lane's entry of table word `fold`, selected by its index ----
wire [PE*L*ENT_W-1:0] table_word = table_mem[fold];
wire [PE*ENT_W-1:0] selected;
genvar e, j;
generate
    for (e = 0; e < PE; e = e + 1) begin : g_lane
        /* verilator lint_off UNUSEDSIGNAL */  // the bits above IDX_W are 0
        wire [W-1:0] idx_raw = s_axis_tdata[e*W +: W];
        /* verilator lint_on UNUSEDSIGNAL */
        // 2^IDX_W entries, those beyond L-1 repeating entry L-1
        wire [ENT_W-1:0] entries [0:(1 << IDX_W)-1];
        for (j = 0; j < (1 << IDX_W); j = j + 1) begin : g_entry
            assign entries[j] = table_word[(e*L + ((j < L) ? j : L - 1))*ENT_W +: ENT_W];
        end
        assign selected[e*ENT_W +: ENT_W] = entries[idx_raw[IDX_W-1:0]];
    end
endgenerate

// ---- compare and count the payload against the frame's thresholds ----
wire [PE*OUT_W-1:0] y;
threshold_count #(
    .PE(PE), .IN_W(W), .IN_SIGNED(1), .N_THR(N_THR), .THR_W(THR_W),
    .ACT_BIAS(ACT_BIAS), .OUT_W(OUT_W)
) u_count (
    .x(s_axis_tdata),
    .t(thresholds[fold]),
    .y(y)
);

always @(posedge clk) begin
    if (take) begin
        fold <= (fold == NF_LAST) ? {NF_W{1'b0}} : fold + 1'b1;
        if (loading) begin
            thresholds[fold] <= selected;
            loading <= (fold != NF_LAST);
        end else begin
            out_q <= y;
            if (fold == NF_LAST) begin
                pixel <= (pixel == PX_LAST) ? {PX_W{1'b0}} : pixel + 1'b1;
                loading <= (pixel == PX_LAST);
            end
        end
    end
    if (en)
        out_v <= take && !loading;
    if (!rst_n) begin
        loading <= 1'b1;
        fold <= {NF_W{1'b0}};
        pixel <= {PX_W{1'b0}};
        out_v <= 1'b0;
    end
end

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

`resetall
