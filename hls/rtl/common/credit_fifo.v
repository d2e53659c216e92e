// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// credit_fifo -- the output queue of a free-running pipeline with credit
// flow control.
//
// A pipeline with one global enable stalls every register when its output
// stalls, so the enable drives the clock enable of every flip-flop: at high
// PE x SIMD that one net reaches tens of thousands of flip-flops and its
// routing sets Fmax (MVAU_0 of the demo at 32 cycles/frame: 72 MHz, 12.8 of
// 13.8 ns routing).  Here the pipeline never stalls.  Instead, a beat that
// will produce an output may only enter it while this queue has room for
// that output (a credit): the parent asserts `reserve` when such a beat
// enters, and `credit` says whether one more may.  Every reserved beat finds
// a free place when it arrives, however long the output stalls, so
// s_axis has no ready.
//
// DEPTH is the number of outputs that may be reserved and not yet taken:
// with the pipeline's latency L (a reserving beat to its output at
// m_axis) and at most one reserving beat every G cycles, DEPTH >=
// ceil(L / G) + 1 keeps one output every G cycles while m_axis_tready stays
// high (mvau.v computes it).
//
// Storage: an output register and a queue of DEPTH - 1 words behind it
// (asynchronous read: distributed RAM or flip-flops).  A beat goes straight
// to the output register when that is free and the queue is empty, so the
// latency is 1 cycle, as a skid buffer's.
//
// Parameters:
//   WIDTH  beat width in bits, >= 1
//   DEPTH  outputs reserved at most, >= 1
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis has no tready: the
// parent only sends beats it reserved.  `credit` is a register, so
// m_axis_tready reaches only this module's registers.
//
// Timing: latency 1 cycle (s_axis beat to m_axis beat when the output is
// free and the queue empty); one beat per cycle in and out.  `credit` falls
// in the cycle after the DEPTH-th outstanding reservation and rises in the
// cycle after the pop that frees one.
//
// Reset: rst_n synchronous, active low; empties the queue, no reservation
// outstanding (the data registers keep their contents).
// Used by: mvau.v.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module credit_fifo #(
    // Beat width in bits, >= 1.
    parameter WIDTH = 8,
    // Outputs reserved and not yet taken, at most; >= 1.
    parameter DEPTH = 2
) (
    // Clock and reset
    input  wire             clk,            // rising edge
    input  wire             rst_n,          // synchronous, active low

    // Reservations
    input  wire             reserve,        // a beat with an output entered the pipeline
    output wire             credit,         // one more may enter

    // Input: reserved beats only (no ready)
    input  wire [WIDTH-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,

    // AXI-Stream output
    output wire [WIDTH-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

localparam C_W = $clog2(DEPTH + 1);
localparam QD = (DEPTH > 1) ? DEPTH - 1 : 1;    // queue words (none used if DEPTH = 1)
localparam Q_W = (QD > 1) ? $clog2(QD) : 1;
localparam [31:0] DEPTH32 = DEPTH;
localparam [C_W-1:0] DEPTH_C = DEPTH32[C_W-1:0];
localparam [31:0] QLAST32 = QD - 1;
localparam [Q_W-1:0] QLAST = QLAST32[Q_W-1:0];

initial begin
    if (WIDTH < 1 || DEPTH < 1) begin
        $error("credit_fifo: WIDTH and DEPTH must be >= 1 (instance %m)");
        $finish;
    end
end

reg  [WIDTH-1:0] out_q;
reg              out_v;
reg  [C_W-1:0]   outstanding;              // reserved, not yet taken at m_axis
reg              credit_q;

wire pop = out_v && m_axis_tready;
wire out_free = !out_v || m_axis_tready;
wire [C_W-1:0] outstanding_next = outstanding + {{(C_W-1){1'b0}}, reserve} - {{(C_W-1){1'b0}}, pop};

assign credit = credit_q;
assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

always @(posedge clk) begin
    outstanding <= outstanding_next;
    credit_q <= (outstanding_next < DEPTH_C);
    if (!rst_n) begin
        outstanding <= {C_W{1'b0}};
        credit_q <= 1'b1;
    end
end

generate
    if (DEPTH > 1) begin : g_queue
        // The output register is never empty while the queue holds a beat
        // (it takes the head as soon as it is free), so the queue holds at
        // most DEPTH - 1 beats.
        reg [WIDTH-1:0] mem [0:QD-1];
        reg [Q_W-1:0]   wptr;
        reg [Q_W-1:0]   rptr;
        reg [C_W-1:0]   qcount;
        wire q_empty = (qcount == {C_W{1'b0}});
        wire take_head = out_free && !q_empty;
        wire to_queue = s_axis_tvalid && !(out_free && q_empty);

        always @(posedge clk) begin
            if (out_free) begin
                out_q <= q_empty ? s_axis_tdata : mem[rptr];
                out_v <= !q_empty || s_axis_tvalid;
            end
            if (to_queue) begin
                mem[wptr] <= s_axis_tdata;
                wptr <= (wptr == QLAST) ? {Q_W{1'b0}} : wptr + 1'b1;
            end
            if (take_head)
                rptr <= (rptr == QLAST) ? {Q_W{1'b0}} : rptr + 1'b1;
            qcount <= qcount + {{(C_W-1){1'b0}}, to_queue} - {{(C_W-1){1'b0}}, take_head};
            if (!rst_n) begin
                out_v <= 1'b0;
                wptr <= {Q_W{1'b0}};
                rptr <= {Q_W{1'b0}};
                qcount <= {C_W{1'b0}};
            end
        end
    end else begin : g_single
        // one output outstanding at most: it is in the pipeline or here
        always @(posedge clk) begin
            if (out_free) begin
                out_q <= s_axis_tdata;
                out_v <= s_axis_tvalid;
            end
            if (!rst_n)
                out_v <= 1'b0;
        end
    end
endgenerate

endmodule

`resetall
