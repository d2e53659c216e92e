// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// frame_threshold -- binarises a frame against thresholds sent ahead of it
// (hw_bnn node `FrameThreshold`, per-sample thresholds).
//
// Per frame the input is NF = C/PE threshold beats (lane e of beat g holds
// T[g*PE+e], signed W bits), then F = PIXELS*NF payload beats of the signed
// W-bit map acc.  Every payload element of channel c becomes the bit
//     [s*acc >= T[c]],  s = -1 where SIGN bit c is set, else +1,
// computed in W+1 bits so that negating -2^(W-1) is exact
// (hw_bnn/features/dynamic_threshold/reference.py frame_threshold).  The output is F
// beats of PE bits (bit e of beat g: channel g*PE+e; 1 is +1, FINN BINARY).
//
// Stream protocol and packing as thresholding.v (element 0 in the LSBs).
// Timing: threshold beats load at one per cycle, payload beats pass at one
// per cycle; latency 1 cycle.
//
// Memory file ($readmemh, one hex word per line):
//   SIGN_FILE: NF words of PE bits; bit e of word g is the SIGN of channel
//              g*PE+e (hw_bnn/features/dynamic_threshold/memfiles.py write_sign_file).
//
// Reset: rst_n synchronous, active low; clears valid bits and counters only.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module frame_threshold #(
    // Number of channels, >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Pixels per frame, >= 1.
    parameter PIXELS = 4,
    // Element width of thresholds and acc in bits (two's complement), 2 .. 48.
    parameter W = 12,
    // Path of the sign memory file (see header).
    parameter SIGN_FILE = "signs.mem"
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire [PE*W-1:0]  s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [PE-1:0]    m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

localparam NF = C / PE;
localparam NF_W = (NF > 1) ? $clog2(NF) : 1;
localparam PX_W = (PIXELS > 1) ? $clog2(PIXELS) : 1;
localparam [31:0] NF_LAST32 = NF - 1;
localparam [NF_W-1:0] NF_LAST = NF_LAST32[NF_W-1:0];
localparam [31:0] PX_LAST32 = PIXELS - 1;
localparam [PX_W-1:0] PX_LAST = PX_LAST32[PX_W-1:0];

initial begin
    if (C < 1 || PE < 1 || C % PE != 0 || PIXELS < 1 || W < 2) begin
        $error("frame_threshold: illegal parameters (instance %m)");
        $finish;
    end
end

reg  [PE-1:0]   signs [0:NF-1];
initial $readmemh(SIGN_FILE, signs);

reg             loading;        // 1 while the thresholds of a frame arrive
reg  [NF_W-1:0] fold;
reg  [PX_W-1:0] pixel;
reg  [PE*W-1:0] thresholds [0:NF-1];
reg  [PE-1:0]   out_q;
reg             out_v;

wire en = !out_v || m_axis_tready;
assign s_axis_tready = loading || en;
wire take = s_axis_tready && s_axis_tvalid;

wire [PE-1:0] bits;
genvar e;
generate
    for (e = 0; e < PE; e = e + 1) begin : g_lane
        wire [W-1:0] acc_raw = s_axis_tdata[e*W +: W];
        wire [W-1:0] t_raw = thresholds[fold][e*W +: W];
        wire signed [W:0] acc = {acc_raw[W-1], acc_raw};
        wire signed [W:0] t = {t_raw[W-1], t_raw};
        wire signed [W:0] signed_acc = signs[fold][e] ? -acc : acc;
        assign bits[e] = signed_acc >= t;
    end
endgenerate

always @(posedge clk) begin
    if (take) begin
        fold <= (fold == NF_LAST) ? {NF_W{1'b0}} : fold + 1'b1;
        if (loading) begin
            thresholds[fold] <= s_axis_tdata;
            loading <= (fold != NF_LAST);
        end else begin
            out_q <= bits;
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
