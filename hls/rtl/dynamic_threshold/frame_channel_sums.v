// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// frame_channel_sums -- passes a frame through and appends its per-channel sums
// (hw_bnn node `GlobalPoolAccumulator`, per-sample thresholds).
//
// Per frame the input is F = PIXELS*C/PE beats of PE IN_W-bit elements,
// signed (IN_SIGNED = 1) or unsigned, pixel-major, channels folded onto PE
// lanes: lane e of fold g is channel g*PE+e.  The output is the same F beats
// with every element extended to OUT_W bits (two's complement), then NF = C/PE trailer beats whose lane e of
// beat g holds S[g*PE+e], the exact sum of that channel over the frame
// (hw_bnn/features/dynamic_threshold/reference.py pool_sums).  The caller makes OUT_W
// wide enough for the sums (>= IN_W + clog2(PIXELS)).
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tvalid/m_axis_tready.
//
// Timing: one beat per cycle; the input waits while the trailer leaves, so a
// frame takes F + NF cycles; latency 1 cycle.
//
// Reset: rst_n synchronous, active low; clears valid bits and counters only
// (the first pixel of every frame loads the sums, so they need no clear).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module frame_channel_sums #(
    // Number of channels, >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Pixels per frame, >= 1 (1 for a fully connected layer).
    parameter PIXELS = 4,
    // Input element width in bits, 1 .. 32.
    parameter IN_W = 8,
    // 1: inputs are two's complement (sign-extended); 0: unsigned, e.g. an XNOR
    // popcount (zero-extended).
    parameter IN_SIGNED = 1,
    // Output element width in bits (two's complement), IN_W (IN_W + 1 for
    // unsigned inputs) .. 48.
    parameter OUT_W = 12
) (
    input  wire                 clk,
    input  wire                 rst_n,
    input  wire [PE*IN_W-1:0]   s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,
    output wire [PE*OUT_W-1:0]  m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

localparam NF = C / PE;
localparam NF_W = (NF > 1) ? $clog2(NF) : 1;
localparam PX_W = (PIXELS > 1) ? $clog2(PIXELS) : 1;
localparam [31:0] NF_LAST32 = NF - 1;
localparam [NF_W-1:0] NF_LAST = NF_LAST32[NF_W-1:0];
localparam [31:0] PX_LAST32 = PIXELS - 1;
localparam [PX_W-1:0] PX_LAST = PX_LAST32[PX_W-1:0];

initial begin
    if (C < 1 || PE < 1 || C % PE != 0 || PIXELS < 1 || IN_W < 1 ||
            OUT_W < IN_W + (IN_SIGNED != 0 ? 0 : 1)) begin
        $error("frame_channel_sums: illegal parameters (instance %m)");
        $finish;
    end
end

reg                 trailer;        // 1 while the sums leave
reg  [NF_W-1:0]     fold;
reg  [PX_W-1:0]     pixel;
reg  [PE*OUT_W-1:0] sums [0:NF-1];
reg  [PE*OUT_W-1:0] out_q;
reg                 out_v;

wire en = !out_v || m_axis_tready;
assign s_axis_tready = en && !trailer;
wire take = s_axis_tready && s_axis_tvalid;

// the input lanes sign- or zero-extended, and added to the running sums of this fold
wire [PE*OUT_W-1:0] wide;
wire [PE*OUT_W-1:0] added;
genvar e;
generate
    for (e = 0; e < PE; e = e + 1) begin : g_lane
        wire [IN_W-1:0] x = s_axis_tdata[e*IN_W +: IN_W];
        /* verilator lint_off UNUSEDSIGNAL */  // the upper IN_W bits only fill the extension
        wire [OUT_W+IN_W-1:0] x_ext = {{OUT_W{IN_SIGNED != 0 && x[IN_W-1]}}, x};
        /* verilator lint_on UNUSEDSIGNAL */
        wire [OUT_W-1:0] xw = x_ext[OUT_W-1:0];
        assign wide[e*OUT_W +: OUT_W] = xw;
        assign added[e*OUT_W +: OUT_W] = sums[fold][e*OUT_W +: OUT_W] + xw;
    end
endgenerate

always @(posedge clk) begin
    if (take) begin
        out_q <= wide;
        sums[fold] <= (pixel == {PX_W{1'b0}}) ? wide : added;
        fold <= (fold == NF_LAST) ? {NF_W{1'b0}} : fold + 1'b1;
        if (fold == NF_LAST) begin
            pixel <= (pixel == PX_LAST) ? {PX_W{1'b0}} : pixel + 1'b1;
            trailer <= (pixel == PX_LAST);
        end
    end else if (trailer && en) begin
        out_q <= sums[fold];
        fold <= (fold == NF_LAST) ? {NF_W{1'b0}} : fold + 1'b1;
        trailer <= (fold != NF_LAST);
    end
    if (en)
        out_v <= take || trailer;
    if (!rst_n) begin
        trailer <= 1'b0;
        fold <= {NF_W{1'b0}};
        pixel <= {PX_W{1'b0}};
        out_v <= 1'b0;
    end
end

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

`resetall
