// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// thresholding -- folded multi-threshold activation (FINN node `Thresholding`).
//
// Every input element x of channel c becomes
//     y = ACT_BIAS + #{ n : x >= T[c][n] },  n = 0 .. N_THR-1
// (FINN/QONNX MultiThreshold semantics: every threshold is compared on its
// own, so unsorted thresholds are handled exactly).  For a BIPOLAR output use
// ACT_BIAS = 0: the emitted bit is 1 for +1 and 0 for -1.
// Channels are folded onto PE lanes: the stream carries, per pixel, NF = C/PE
// beats of PE channels each (FINN's folded shape (..., NF, PE)).
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tvalid/m_axis_tready (one global enable).
//
// Packing (FINN convention): element i of a beat at bits [i*W +: W], element 0
// in the LSBs, two's complement for signed values, bipolar -1/+1 as 0/1.
//   input beat nf of a pixel : channel nf*PE + p at bits [p*IN_W +: IN_W]
//   output beat nf of a pixel: channel nf*PE + p at bits [p*OUT_W +: OUT_W]
//
// Timing: one beat per cycle (II = 1), latency 2 cycles.
//
// Memory file ($readmemh, one hex word per line):
//   THRESH_FILE: NF words of PE*N_THR*THR_W bits; word nf holds, at bits
//                [(p*N_THR + n)*THR_W +: THR_W], threshold n of channel
//                nf*PE + p, two's complement (hw_bnn/rtl/memfiles.py
//                write_thresholds; same layout as mvau.v).
//                SHARED_THR = 1: one word of N_THR*THR_W bits, the thresholds
//                of every channel (the same layout with C = PE = 1).
//                LOOKUP = 1: 2^IN_W words of OUT_W bits, word a the output
//                for the input whose IN_W-bit pattern is a (write_output_table).
//
// Reset: rst_n synchronous, active low; clears valid bits and counters only.
// Submodules: fold_param_rom (fold_param_rom.v), the threshold memory and its
// fold counter (SHARED_THR = 0); threshold_count (threshold_count.v), the
// compare and count (LOOKUP = 0).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module thresholding #(
    // Number of channels (FINN NumChannels), >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Input element width in bits, 1 .. 32.
    parameter IN_W = 8,
    // 1 if inputs are two's complement, 0 if unsigned.
    parameter IN_SIGNED = 0,
    // Thresholds per channel (FINN numSteps), >= 1.
    parameter N_THR = 1,
    // Threshold width in bits (two's complement), 2 .. 32.
    parameter THR_W = 10,
    // Integer added to the threshold count (FINN ActVal; 0 for BINARY/BIPOLAR).
    parameter ACT_BIAS = 0,
    // Output element width in bits, 1 .. 32, 2^OUT_W > N_THR.
    parameter OUT_W = 1,
    // 1 if every channel has the same thresholds (FINN's global threshold,
    // a per-tensor quantiser's): the file holds them once, and the compares
    // are against constants that synthesis folds, with no memory or fold
    // counter; 0: a threshold word per fold.
    parameter SHARED_THR = 0,
    // 1 (with SHARED_THR = 1): each output is read from a table of every
    // input value's output instead of being counted from compares.  A count
    // of many thresholds on a narrow input (255 on a 9-bit stream: 2^9 words
    // of 8 bits) is then a small ROM, where the compares take thousands of
    // LUTs.  Same outputs, same latency; a table copy per lane.
    parameter LOOKUP = 0,
    // Path of the threshold memory file (see header).
    parameter THRESH_FILE = "thresholds.mem"
) (
    // Clock and reset
    input  wire                 clk,            // rising edge
    input  wire                 rst_n,          // synchronous, active low

    // AXI-Stream input: PE elements of IN_W bits per beat
    input  wire [PE*IN_W-1:0]   s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,

    // AXI-Stream output: PE elements of OUT_W bits per beat
    output wire [PE*OUT_W-1:0]  m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

localparam NF = C / PE;                         // beats per pixel
localparam TW = PE * N_THR * THR_W;             // threshold word width

initial begin
    if (C < 1 || PE < 1 || C % PE != 0) begin
        $error("thresholding: need C >= 1 and PE dividing C (instance %m)");
        $finish;
    end
    if (IN_W < 1 || IN_W > 32 || THR_W < 2 || THR_W > 32 || OUT_W < 1 || OUT_W > 32 ||
        N_THR < 1 || (1 << OUT_W) <= N_THR || (SHARED_THR != 0 && SHARED_THR != 1) ||
        (LOOKUP != 0 && (LOOKUP != 1 || SHARED_THR != 1 || IN_W > 20))) begin
        $error("thresholding: illegal IN_W/THR_W/OUT_W/N_THR/SHARED_THR/LOOKUP (instance %m)");
        $finish;
    end
end

wire en = !m_axis_tvalid || m_axis_tready;
assign s_axis_tready = en;
wire take = en && s_axis_tvalid;

// stage 1: input register (and, counting, the read of x_q's thresholds)
reg  [PE*IN_W-1:0]  x_q;
reg                 x_v;

always @(posedge clk) begin
    if (take)
        x_q <= s_axis_tdata;
    if (en)
        x_v <= s_axis_tvalid;
    if (!rst_n)
        x_v <= 1'b0;
end

// stage 2: the output register, loaded with x_q's count or table entry
wire [PE*OUT_W-1:0] y_q;
reg                 y_v;

genvar gp;
generate
    if (LOOKUP) begin : g_lookup
        for (gp = 0; gp < PE; gp = gp + 1) begin : g_lane
            reg [OUT_W-1:0] outputs [0:(1 << IN_W) - 1];
            initial $readmemh(THRESH_FILE, outputs);
            reg [OUT_W-1:0] y_lane;
            always @(posedge clk)
                if (en)
                    y_lane <= outputs[x_q[gp*IN_W +: IN_W]];
            assign y_q[gp*OUT_W +: OUT_W] = y_lane;
        end
    end else begin : g_count
        wire [TW-1:0] t_q;                      // the thresholds of x_q
        if (SHARED_THR) begin : g_shared
            // one word for every lane and fold: a constant once the file is read
            reg [N_THR*THR_W-1:0] shared [0:0];
            initial $readmemh(THRESH_FILE, shared);
            assign t_q = {PE{shared[0]}};
        end else begin : g_per_channel
            fold_param_rom #(
                .WIDTH(TW), .DEPTH(NF), .FILE(THRESH_FILE), .REG_READ(1)
            ) u_thresholds (
                .clk(clk),
                .rst_n(rst_n),
                .next(take),
                .word(t_q)
            );
        end

        wire [PE*OUT_W-1:0] y;
        threshold_count #(
            .PE(PE), .IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .N_THR(N_THR), .THR_W(THR_W),
            .ACT_BIAS(ACT_BIAS), .OUT_W(OUT_W)
        ) u_count (
            .x(x_q),
            .t(t_q),
            .y(y)
        );

        reg [PE*OUT_W-1:0] y_count;
        always @(posedge clk)
            if (en)
                y_count <= y;
        assign y_q = y_count;
    end
endgenerate

always @(posedge clk) begin
    if (en)
        y_v <= x_v;
    if (!rst_n)
        y_v <= 1'b0;
end

assign m_axis_tdata = y_q;
assign m_axis_tvalid = y_v;

endmodule

`resetall
