// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// pool_max -- max pooling on a window stream (FINN node `Pool`,
// Function = MaxPool), fed by sliding_window with DEPTHWISE = 1.
//
// Input : for each output pixel, for each channel group cf (CF = C/PE groups),
//         K*K beats (the window positions ky, kx) of PE channels each: the
//         channel-group-major order of FINN's depthwise sliding-window
//         generator (sliding_window.v, DEPTHWISE = 1, SIMD = PE).
// Output: for each output pixel, for each cf, one beat of PE channels, lane p
//         = max over the K*K beats of lane p.  The result equals FINN's python
//         execution of Pool (max over the kernel axis of the (K*K, C) window),
//         which sees the window in (ky, kx, c) order; only the stream order
//         between generator and pool differs.  The channel count C does not
//         enter the logic (every K*K consecutive beats are one window).
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tready only for the last beat of a window.
//
// Packing (FINN convention): lane p at bits [p*ELEM_W +: ELEM_W], lane 0 in
// the LSBs.  BINARY and BIPOLAR (bit 1 = +1) elements use SIGNED = 0.
//
// Timing: one input beat per cycle (II = 1 on the input side), the output
// beat of a window 1 cycle after its last input beat.
//
// Reset: rst_n synchronous, active low; clears counters and valid bits.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module pool_max #(
    // Kernel height = width (FINN KernelSize), >= 1; window = K*K beats.
    parameter K = 2,
    // Channels per beat (FINN PE; the generator's SIMD), >= 1.
    parameter PE = 2,
    // Bits per element, >= 1.
    parameter ELEM_W = 1,
    // 1: elements are two's complement; 0: unsigned / binary / bipolar.
    parameter SIGNED = 0
) (
    // Clock and reset
    input  wire                 clk,            // rising edge
    input  wire                 rst_n,          // synchronous, active low

    // AXI-Stream input: PE elements per beat
    input  wire [PE*ELEM_W-1:0] s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,

    // AXI-Stream output: PE elements per beat
    output wire [PE*ELEM_W-1:0] m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

localparam WIN = K * K;
localparam WC_W = (WIN > 1) ? $clog2(WIN) : 1;
localparam [31:0] WIN_LAST32 = WIN - 1;
localparam [WC_W-1:0] WIN_LAST = WIN_LAST32[WC_W-1:0];
localparam DW = PE * ELEM_W;

initial begin
    if (K < 1 || PE < 1 || ELEM_W < 1) begin
        $error("pool_max: K, PE, ELEM_W must be >= 1 (instance %m)");
        $finish;
    end
end

reg  [WC_W-1:0] wcnt;
reg  [DW-1:0]   acc;
reg  [DW-1:0]   out_q;
reg             out_v;

wire last = (wcnt == WIN_LAST);
assign s_axis_tready = !last || !out_v || m_axis_tready;
wire take = s_axis_tvalid && s_axis_tready;

// lane-wise max of the running maximum and the new beat
wire [DW-1:0] acc_new;
genvar gp;
generate
    for (gp = 0; gp < PE; gp = gp + 1) begin : g_pe
        wire [ELEM_W:0] a = {(SIGNED != 0) && acc[gp*ELEM_W+ELEM_W-1], acc[gp*ELEM_W +: ELEM_W]};
        wire [ELEM_W:0] b = {(SIGNED != 0) && s_axis_tdata[gp*ELEM_W+ELEM_W-1],
                             s_axis_tdata[gp*ELEM_W +: ELEM_W]};
        wire keep = (wcnt != {WC_W{1'b0}}) && ($signed(a) > $signed(b));
        assign acc_new[gp*ELEM_W +: ELEM_W] = keep ? acc[gp*ELEM_W +: ELEM_W]
                                                   : s_axis_tdata[gp*ELEM_W +: ELEM_W];
    end
endgenerate

always @(posedge clk) begin
    if (out_v && m_axis_tready)
        out_v <= 1'b0;
    if (take) begin
        acc <= acc_new;
        wcnt <= last ? {WC_W{1'b0}} : wcnt + 1'b1;
        if (last) begin
            out_q <= acc_new;
            out_v <= 1'b1;
        end
    end
    if (!rst_n) begin
        wcnt <= {WC_W{1'b0}};
        out_v <= 1'b0;
    end
end

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

`resetall
