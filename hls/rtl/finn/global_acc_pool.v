// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// global_acc_pool -- per-channel sums over the pixels of a frame (FINN node
// `GlobalAccPool`, the accumulating half of a global average pool; FINN puts
// the division by N_PIX into a scalar Mul after it, which hw_bnn's threshold
// unit absorbs).  It takes the next frame while it emits the sums of the
// previous one.  (frame_channel_sums.v, for per-sample thresholds, passes the
// frame through before its sums instead.)
//
// Per frame the input is N_PIX pixels of C channels, folded onto PE lanes:
// N_PIX*NF beats, NF = C/PE, pixel-major, lane p of beat nf of a pixel is
// channel nf*PE + p (FINN's folded input shape (1, H, W, NF, PE),
// N_PIX = H*W).  The output is NF beats per frame, lane p of beat nf holding
//     S[nf*PE + p] = sum over the N_PIX pixels of channel nf*PE + p
// modulo 2^OUT_W (two's complement if IN_SIGNED).  FINN's output datatype
// (GlobalAccPool.get_output_datatype: the smallest type that holds
// N_PIX*min(idt) for a signed, N_PIX*max(idt) for an unsigned input) holds
// every sum, so OUT_W = its bit width makes the sums exact.  Inputs are
// FINN INTk / UINTk / BINARY values (not BIPOLAR, whose 0/1 bits mean -1/+1).
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tvalid/m_axis_tready (the first pixel of a frame
// may overwrite an accumulator only once its previous sum has left).
//
// Packing (FINN convention): element p of a beat at bits [p*W +: W], element 0
// in the LSBs, two's complement for signed values.
//   input beat nf of a pixel: channel nf*PE + p at bits [p*IN_W +: IN_W]
//   output beat nf          : sum of channel nf*PE + p at bits [p*OUT_W +: OUT_W]
//
// Accumulators: a memory of NF words of PE*OUT_W bits, word nf for the
// channels of fold nf, read asynchronously (distributed RAM or registers):
// one read-modify-write port for the input, one read port for the output.
// The first pixel of a frame loads the words, the last pixel completes them
// (a word is then "pending"), the output reads pending words in order.
//
// Timing: the input takes one beat per cycle, N_PIX*NF cycles per frame, with
// no gap between frames while the output is not stalled.  Latency 2 cycles:
// output beat nf of a frame transfers (at the earliest) 2 cycles after the
// input beat that completes it, beat nf of the last pixel; the NF sums of a
// frame leave back to back, overlapping the last pixel and the next frame.
// The input stalls only when the first pixel of a frame reaches a word whose
// sum has not left (output back-pressure).
//
// Reset: rst_n synchronous, active low; clears valid bits and counters only
// (the first pixel of every frame loads the sums, so they need no clear).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module global_acc_pool #(
    // Number of channels (FINN NumChannels), >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Pixels per frame (FINN numInputVectors H*W), >= 1.
    parameter N_PIX = 4,
    // Input element width in bits, 1 .. 32.
    parameter IN_W = 8,
    // 1 if inputs are two's complement, 0 if unsigned.
    parameter IN_SIGNED = 1,
    // Output element width in bits, 1 .. 64 (FINN output datatype's bit width).
    parameter OUT_W = 10
) (
    // Clock and reset
    input  wire                 clk,            // rising edge
    input  wire                 rst_n,          // synchronous, active low

    // AXI-Stream input: PE elements of IN_W bits per beat
    input  wire [PE*IN_W-1:0]   s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,

    // AXI-Stream output: PE sums of OUT_W bits per beat
    output wire [PE*OUT_W-1:0]  m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

localparam NF = C / PE;                         // beats per pixel
localparam NF_W = (NF > 1) ? $clog2(NF) : 1;
localparam PX_W = (N_PIX > 1) ? $clog2(N_PIX) : 1;
localparam CNT_W = $clog2(NF + 1);              // 0 .. NF pending sums
localparam OCC_W = CNT_W + 1;
localparam [31:0] NF_LAST32 = NF - 1;
localparam [NF_W-1:0] NF_LAST = NF_LAST32[NF_W-1:0];
localparam [31:0] PX_LAST32 = N_PIX - 1;
localparam [PX_W-1:0] PX_LAST = PX_LAST32[PX_W-1:0];
localparam [31:0] NF32 = NF;
localparam [OCC_W-1:0] NF_OCC = NF32[OCC_W-1:0];

initial begin
    if (C < 1 || PE < 1 || C % PE != 0 || N_PIX < 1) begin
        $error("global_acc_pool: need C >= 1, PE dividing C and N_PIX >= 1 (instance %m)");
        $finish;
    end
    if (IN_W < 1 || IN_W > 32 || OUT_W < 1 || OUT_W > 64) begin
        $error("global_acc_pool: illegal IN_W/OUT_W (instance %m)");
        $finish;
    end
end

reg  [PE*OUT_W-1:0] acc [0:NF-1];
reg  [NF_W-1:0]     fold;           // input: fold of the next beat
reg  [PX_W-1:0]     pixel;          // input: pixel of the next beat
reg  [CNT_W-1:0]    pend;           // completed sums not yet emitted
reg  [NF_W-1:0]     rd;             // output: fold of the next sum
reg  [PE*OUT_W-1:0] out_q;
reg                 out_v;

wire en = !out_v || m_axis_tready;
wire emit = en && (pend != {CNT_W{1'b0}});
wire first = (pixel == {PX_W{1'b0}});
wire last = (pixel == PX_LAST);

// Words in use when a first-pixel beat arrives at fold `fold`: the pending
// sums of the previous frame (a circular range from rd) and, with N_PIX > 1,
// the `fold` words this frame has loaded (with N_PIX = 1 those are pending
// already).  All NF in use means word `fold` still waits to leave; it may be
// overwritten in the cycle its sum is read out.
wire [NF_W-1:0]  loaded = (N_PIX > 1) ? fold : {NF_W{1'b0}};
wire [OCC_W-1:0] in_use = {1'b0, pend} + {{(OCC_W - NF_W){1'b0}}, loaded};
wire blocked = first && (in_use == NF_OCC) && !emit;
assign s_axis_tready = !blocked;
wire take = s_axis_tvalid && !blocked;

// the input lanes extended to OUT_W bits, and added to the running sums of this fold
wire [PE*OUT_W-1:0] acc_in = acc[fold];
wire [PE*OUT_W-1:0] wide;
wire [PE*OUT_W-1:0] added;
genvar p;
generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
        wire [IN_W-1:0] x = s_axis_tdata[p*IN_W +: IN_W];
        wire fill = (IN_SIGNED != 0) && x[IN_W-1];
        /* verilator lint_off UNUSEDSIGNAL */  // the upper IN_W bits only fill the extension
        wire [OUT_W+IN_W-1:0] x_ext = {{OUT_W{fill}}, x};      // sign or zero extension
        /* verilator lint_on UNUSEDSIGNAL */
        wire [OUT_W-1:0] xw = x_ext[OUT_W-1:0];
        assign wide[p*OUT_W +: OUT_W] = xw;
        assign added[p*OUT_W +: OUT_W] = acc_in[p*OUT_W +: OUT_W] + xw;
    end
endgenerate

always @(posedge clk) begin
    if (take) begin
        acc[fold] <= first ? wide : added;
        fold <= (fold == NF_LAST) ? {NF_W{1'b0}} : fold + 1'b1;
        if (fold == NF_LAST)
            pixel <= last ? {PX_W{1'b0}} : pixel + 1'b1;
    end
    if (emit) begin
        out_q <= acc[rd];
        rd <= (rd == NF_LAST) ? {NF_W{1'b0}} : rd + 1'b1;
    end
    // a beat of the last pixel completes a sum, an emitted sum leaves
    if ((take && last) && !emit)
        pend <= pend + 1'b1;
    else if (!(take && last) && emit)
        pend <= pend - 1'b1;
    if (en)
        out_v <= emit;
    if (!rst_n) begin
        fold <= {NF_W{1'b0}};
        pixel <= {PX_W{1'b0}};
        pend <= {CNT_W{1'b0}};
        rd <= {NF_W{1'b0}};
        out_v <= 1'b0;
    end
end

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

`resetall
