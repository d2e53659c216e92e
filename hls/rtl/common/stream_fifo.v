// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// stream_fifo -- valid/ready FIFO of DEPTH beats (FINN node `StreamingFIFO`).
//
// Storage: a memory of DEPTH words with synchronous read (maps to block or
// distributed RAM) followed by an output register; at most DEPTH beats are
// held in total (memory + output register), `count` reports how many.
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready is a register
// (count < DEPTH), so the FIFO cuts every combinational ready path.
//
// Timing: a beat appears at the output 2 cycles after it is written (first
// word), then one beat per cycle; full throughput (one beat per cycle in and
// out at the same time) needs DEPTH >= 3.
//
// Reset: rst_n synchronous, active low; empties the FIFO.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module stream_fifo #(
    // Data width in bits, >= 1.
    parameter WIDTH = 8,
    // Capacity in beats, >= 1 (>= 3 for full throughput).
    parameter DEPTH = 16
) (
    // Clock and reset
    input  wire                       clk,      // rising edge
    input  wire                       rst_n,    // synchronous, active low

    // AXI-Stream input
    input  wire [WIDTH-1:0]           s_axis_tdata,
    input  wire                       s_axis_tvalid,
    output wire                       s_axis_tready,

    // AXI-Stream output
    output wire [WIDTH-1:0]           m_axis_tdata,
    output wire                       m_axis_tvalid,
    input  wire                       m_axis_tready,

    // Status
    output wire [$clog2(DEPTH+1)-1:0] count     // beats held (0 .. DEPTH)
);

localparam A_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
localparam C_W = $clog2(DEPTH + 1);
localparam [31:0] LAST32 = DEPTH - 1;
localparam [31:0] DEPTH32 = DEPTH;
localparam [A_W-1:0] LAST = LAST32[A_W-1:0];
localparam [C_W-1:0] DEPTH_C = DEPTH32[C_W-1:0];

initial begin
    if (WIDTH < 1 || DEPTH < 1) begin
        $error("stream_fifo: WIDTH and DEPTH must be >= 1 (instance %m)");
        $finish;
    end
end

reg  [WIDTH-1:0] mem [0:DEPTH-1];
reg  [A_W-1:0]   wptr;
reg  [A_W-1:0]   rptr;
reg  [C_W-1:0]   mcount;                        // beats in the memory
reg  [C_W-1:0]   tcount;                        // beats in memory + output register
reg              s_ready_q;
reg  [WIDTH-1:0] out_q;
reg              out_v;

wire wr = s_axis_tvalid && s_ready_q;
wire pop = out_v && m_axis_tready;
wire rd = (!out_v || m_axis_tready) && (mcount != {C_W{1'b0}});

// tcount == DEPTH (then s_ready_q is 0, so no write) and tcount == DEPTH - 1
wire full_now = (tcount == DEPTH_C);
wire almost_full = (tcount == DEPTH_C - 1'b1);
wire [C_W-1:0] tcount_next = tcount + {{(C_W-1){1'b0}}, wr} - {{(C_W-1){1'b0}}, pop};

always @(posedge clk) begin
    if (wr) begin
        mem[wptr] <= s_axis_tdata;
        wptr <= (wptr == LAST) ? {A_W{1'b0}} : wptr + 1'b1;
    end
    if (rd) begin
        out_q <= mem[rptr];
        rptr <= (rptr == LAST) ? {A_W{1'b0}} : rptr + 1'b1;
    end
    if (rd)
        out_v <= 1'b1;
    else if (pop)
        out_v <= 1'b0;
    mcount <= mcount + {{(C_W-1){1'b0}}, wr} - {{(C_W-1){1'b0}}, rd};
    tcount <= tcount_next;
    // s_ready_q <= (tcount_next < DEPTH), from registered compares of tcount
    // (at most one beat in or out per cycle) so that the late m_axis_tready
    // reaches it through one LUT, not through the tcount adder
    s_ready_q <= !(full_now ? !pop : (almost_full && wr && !pop));
    if (!rst_n) begin
        wptr <= {A_W{1'b0}};
        rptr <= {A_W{1'b0}};
        mcount <= {C_W{1'b0}};
        tcount <= {C_W{1'b0}};
        s_ready_q <= 1'b0;
        out_v <= 1'b0;
    end
end

assign s_axis_tready = s_ready_q;
assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;
assign count = tcount;

endmodule

`resetall
