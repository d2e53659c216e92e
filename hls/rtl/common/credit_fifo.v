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
// Storage: DEPTH words written in turn and read in turn, the output read
// from the word at the read pointer (asynchronous read: distributed RAM or
// flip-flops).  m_axis_tready only moves the read pointer and the count:
// it enables no data register, so a consumer that decodes its ready from a
// counter drives a handful of flip-flops here, not WIDTH of them (an output
// register loaded on tready put that decode in front of the 256-bit output
// register of MVAU_0 at 32 cycles/frame and set Fmax).  A beat is at
// m_axis the cycle after it arrives: latency 1 cycle, as a skid buffer's.
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
// Timing: latency 1 cycle (s_axis beat to m_axis beat when the queue is
// empty); one beat per cycle in and out.  `credit` falls
// in the cycle after the DEPTH-th outstanding reservation and rises in the
// cycle after the pop that frees one.
//
// Reset: rst_n synchronous, active low; empties the queue, no reservation
// outstanding (the stored words keep their contents).
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
localparam P_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
localparam [31:0] DEPTH32 = DEPTH;
localparam [C_W-1:0] DEPTH_C = DEPTH32[C_W-1:0];
localparam [31:0] LAST32 = DEPTH - 1;
localparam [P_W-1:0] LAST = LAST32[P_W-1:0];

initial begin
    if (WIDTH < 1 || DEPTH < 1) begin
        $error("credit_fifo: WIDTH and DEPTH must be >= 1 (instance %m)");
        $finish;
    end
end

reg  [WIDTH-1:0] mem [0:DEPTH-1];
reg  [P_W-1:0]   wptr;
reg  [P_W-1:0]   rptr;
reg  [C_W-1:0]   stored;                   // beats here, not yet taken
reg              out_v;                    // stored != 0, as a register
reg  [C_W-1:0]   outstanding;              // reserved, not yet taken at m_axis
reg              credit_q;

wire pop = out_v && m_axis_tready;
wire [C_W-1:0] one_in  = {{(C_W-1){1'b0}}, s_axis_tvalid};
wire [C_W-1:0] one_out = {{(C_W-1){1'b0}}, pop};
wire [C_W-1:0] stored_next = stored + one_in - one_out;
wire [C_W-1:0] outstanding_next = outstanding + {{(C_W-1){1'b0}}, reserve} - one_out;

assign credit = credit_q;
assign m_axis_tdata = mem[rptr];
assign m_axis_tvalid = out_v;

// Every beat arriving was reserved, and at most DEPTH are reserved and not
// taken, so the word written is never one still to be read.
always @(posedge clk) begin
    if (s_axis_tvalid)
        mem[wptr] <= s_axis_tdata;
end

always @(posedge clk) begin
    if (s_axis_tvalid)
        wptr <= (wptr == LAST) ? {P_W{1'b0}} : wptr + 1'b1;
    if (pop)
        rptr <= (rptr == LAST) ? {P_W{1'b0}} : rptr + 1'b1;
    stored <= stored_next;
    out_v <= (stored_next != {C_W{1'b0}});
    outstanding <= outstanding_next;
    credit_q <= (outstanding_next < DEPTH_C);
    if (!rst_n) begin
        wptr <= {P_W{1'b0}};
        rptr <= {P_W{1'b0}};
        stored <= {C_W{1'b0}};
        out_v <= 1'b0;
        outstanding <= {C_W{1'b0}};
        credit_q <= 1'b1;
    end
end

endmodule

`resetall
