// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// frame_buffer -- holds each frame's integer map until the frame's thresholds
// arrive, then sends the thresholds first (hw_bnn node `FrameBuffer`,
// per-sample thresholds).  Double-buffered: FRAMES = 2 frames of payload.
//
// Input: a tagged stream, PE*W+1 bits, the tag in the MSB.  Payload beats
// (tag 0) are the map, F = PIXELS*C/PE beats per frame of PE signed elements
// that fit in DATA_W bits; side beats (tag 1) are the NF = C/PE threshold
// beats of a frame.  The side beats of frame n come after every payload beat
// of frame n and before the first payload beat of frame n+2 (hyper_function.v
// guarantees it); with FRAMES = 2 that always fits, so the buffer cannot
// deadlock.  Output (untagged, PE*W bits): per frame its NF side beats, then its
// F payload beats sign-extended back to W bits.
//
// Storage: a payload queue of FRAMES*F words of PE*DATA_W bits, written and read
// synchronously so that synthesis infers block RAM (FRAMES*PIXELS*C*DATA_W
// bits), and a side queue of 2*NF words of PE*W bits.
//
// Stream protocol: as thresholding.v, except that s_axis_tready depends on the
// tag of s_axis_tdata (each queue accepts while it has room).
// Timing: one beat per cycle in and out, but for one idle output cycle per
// frame where the side beats follow a block-RAM read (F + NF + 1 cycles per
// frame); latency from the last side beat of a frame to its first output
// beat 2 cycles.
//
// Reset: rst_n synchronous, active low; empties both queues.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module frame_buffer #(
    // Number of channels, >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Pixels per frame, >= 1.
    parameter PIXELS = 4,
    // Element width of the stream in bits (two's complement), 2 .. 48.
    parameter W = 12,
    // Stored payload element width in bits, 1 .. W.
    parameter DATA_W = 8,
    // Payload capacity in frames, >= 2 (2: double buffering).
    parameter FRAMES = 2
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire [PE*W:0]    s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [PE*W-1:0]  m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

localparam NF = C / PE;
localparam F = PIXELS * NF;
localparam DEPTH = FRAMES * F;
localparam SIDE = 2 * NF;
localparam A_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
localparam SA_W = $clog2(SIDE);
localparam CNT_W = $clog2(DEPTH + 1);
localparam SCNT_W = $clog2(SIDE + 1);
localparam F_W = $clog2(F + 1);
localparam [31:0] DEPTH32 = DEPTH;
localparam [31:0] SIDE32 = SIDE;
localparam [31:0] F32 = F;
localparam [31:0] NF32 = NF;

initial begin
    if (C < 1 || PE < 1 || C % PE != 0 || PIXELS < 1 || W < 2 || DATA_W < 1 || DATA_W > W || FRAMES < 2) begin
        $error("frame_buffer: illegal parameters (instance %m)");
        $finish;
    end
end

// ---- input side: two queues ----
wire tag = s_axis_tdata[PE*W];
reg  [CNT_W-1:0]  p_count;     // payload words written and not yet read out
reg  [SCNT_W-1:0] s_count;     // side words written and not yet read out
wire p_room = p_count != DEPTH32[CNT_W-1:0];
wire s_room = s_count != SIDE32[SCNT_W-1:0];
assign s_axis_tready = tag ? s_room : p_room;
wire write_p = s_axis_tvalid && !tag && p_room;
wire write_s = s_axis_tvalid && tag && s_room;

reg  [PE*DATA_W-1:0] payload [0:DEPTH-1];
reg  [PE*W-1:0]      side [0:SIDE-1];
reg  [A_W-1:0]  p_wr, p_rd;
reg  [SA_W-1:0] s_wr, s_rd;

wire [PE*DATA_W-1:0] narrow;
genvar e;
generate
    for (e = 0; e < PE; e = e + 1) begin : g_narrow
        assign narrow[e*DATA_W +: DATA_W] = s_axis_tdata[e*W +: DATA_W];
    end
endgenerate

// ---- output side: per frame NF side beats then F payload beats, through a 2-entry queue ----
reg             sending_side;   // which part of the frame is being read
reg  [F_W-1:0]  left;           // beats of that part still to read
reg  [PE*W-1:0] q_data [0:1];
reg  [1:0]      q_count;
reg             q_head;
reg             p_inflight;     // a payload read issued last cycle (data in p_q now)
reg  [PE*DATA_W-1:0] p_q;

wire pop = q_count != 2'd0 && m_axis_tready;
wire [2:0] committed = {1'b0, q_count} + {2'b0, p_inflight} - {2'b0, pop};
wire space = committed < 3'd2;
wire read_s = sending_side && s_count != {SCNT_W{1'b0}} && space && !p_inflight;
wire read_p = !sending_side && p_count != {CNT_W{1'b0}} && space;

wire [PE*W-1:0] p_wide;
generate
    for (e = 0; e < PE; e = e + 1) begin : g_wide
        wire [DATA_W-1:0] v = p_q[e*DATA_W +: DATA_W];
        /* verilator lint_off UNUSEDSIGNAL */  // the upper DATA_W bits only fill the extension
        wire [W+DATA_W-1:0] v_ext = {{W{v[DATA_W-1]}}, v};   // sign extension
        /* verilator lint_on UNUSEDSIGNAL */
        assign p_wide[e*W +: W] = v_ext[W-1:0];
    end
endgenerate

wire push = read_s || p_inflight;
wire [PE*W-1:0] push_data = p_inflight ? p_wide : side[s_rd];
wire q_tail = q_head ^ q_count[0];

always @(posedge clk) begin
    if (write_p) begin
        payload[p_wr] <= narrow;
        p_wr <= (p_wr == DEPTH32[A_W-1:0] - 1'b1) ? {A_W{1'b0}} : p_wr + 1'b1;
    end
    if (write_s) begin
        side[s_wr] <= s_axis_tdata[PE*W-1:0];
        s_wr <= (s_wr == SIDE32[SA_W-1:0] - 1'b1) ? {SA_W{1'b0}} : s_wr + 1'b1;
    end
    if (read_p) begin
        p_q <= payload[p_rd];
        p_rd <= (p_rd == DEPTH32[A_W-1:0] - 1'b1) ? {A_W{1'b0}} : p_rd + 1'b1;
    end
    if (read_s)
        s_rd <= (s_rd == SIDE32[SA_W-1:0] - 1'b1) ? {SA_W{1'b0}} : s_rd + 1'b1;
    p_inflight <= read_p;
    p_count <= p_count + write_p - read_p;
    s_count <= s_count + write_s - read_s;
    if (read_s || read_p) begin
        if (left == 1) begin
            sending_side <= !sending_side;
            left <= sending_side ? F32[F_W-1:0] : NF32[F_W-1:0];
        end else begin
            left <= left - 1'b1;
        end
    end
    if (push)
        q_data[q_tail] <= push_data;
    if (pop)
        q_head <= !q_head;
    q_count <= q_count + push - pop;
    if (!rst_n) begin
        p_count <= {CNT_W{1'b0}};
        s_count <= {SCNT_W{1'b0}};
        p_wr <= {A_W{1'b0}};
        p_rd <= {A_W{1'b0}};
        s_wr <= {SA_W{1'b0}};
        s_rd <= {SA_W{1'b0}};
        p_inflight <= 1'b0;
        sending_side <= 1'b1;
        left <= NF32[F_W-1:0];
        q_count <= 2'd0;
        q_head <= 1'b0;
    end
end

assign m_axis_tdata = q_data[q_head];
assign m_axis_tvalid = q_count != 2'd0;

endmodule

`resetall
