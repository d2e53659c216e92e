// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// async_fifo -- a valid/ready stream from one clock domain to another.
//
// The board top (hw_bnn/board/top.py) runs the UART link on the board
// oscillator and the accelerator on a PLL clock; one async_fifo carries each
// direction.  The clocks may have any ratio and phase.
//
// Stream protocol on both sides: a transfer happens on tvalid && tready;
// tvalid never waits on tready; tdata is held while tvalid && !tready.
//
// Crossing: the write and read pointers are binary counters of ADDR_W+1 bits
// (the extra bit tells full from empty) and each side publishes its pointer in
// Gray code from a register, so that the other side's 2-flop synchroniser sees
// at most one changing bit and samples either the old or the new value, never
// a mix.  The write side compares its pointer with the synchronised read
// pointer (full), the read side its pointer with the synchronised write
// pointer (empty); both views are late, so a side only ever thinks the FIFO is
// fuller (writer) or emptier (reader) than it is -- safe.  A word is read from
// the memory only after its write pointer has crossed, i.e. at least two read
// clocks after it was written, so the memory needs no synchroniser.
//
// Latency: a word written at a rising s_clk edge is valid at m_axis about 3
// m_clk cycles later (1 Gray register + 2 synchroniser stages); a freed slot
// is seen by the writer about 3 s_clk cycles after the read.  Throughput: one
// word per cycle of the slower clock while the FIFO neither fills nor empties;
// DEPTH should cover the round trip (about 6 cycles of the slower clock) for
// full rate.  Storage: memory with an asynchronous read (LUT RAM where the
// family has it, flip-flops otherwise).
//
// Parameters:
//   WIDTH  -- bits per word, >= 1.
//   ADDR_W -- log2 of the depth, >= 2 (DEPTH = 2**ADDR_W words; 4 or more
//             words also keep a stream going across the synchroniser delay).
//
// Reset: s_rst_n (synchronous to s_clk) and m_rst_n (synchronous to m_clk),
// active low, clear the pointers and synchronisers of their side.  Reset both
// sides together, and hold each reset for at least 3 cycles of its own clock
// after the other side's reset began, so that each side's synchroniser has
// settled on the other side's zero pointer when counting starts (the board
// top makes the accelerator side's reset from the UART side's through a
// synchroniser, and the board wrapper holds reset for 1024 cycles).  Data is
// not reset.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module async_fifo #(
    // Bits per word, >= 1.
    parameter WIDTH = 8,
    // log2 of the depth in words, >= 2.
    parameter ADDR_W = 3
) (
    // Write side (clock domain s_clk)
    input  wire             s_clk,          // rising edge
    input  wire             s_rst_n,        // synchronous to s_clk, active low
    input  wire [WIDTH-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,  // not full

    // Read side (clock domain m_clk)
    input  wire             m_clk,          // rising edge
    input  wire             m_rst_n,        // synchronous to m_clk, active low
    output wire [WIDTH-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,  // not empty
    input  wire             m_axis_tready
);

localparam DEPTH = 1 << ADDR_W;
localparam PW = ADDR_W + 1;                 // pointer width: address + wrap bit

initial begin
    if (WIDTH < 1 || ADDR_W < 2) begin
        $error("async_fifo: WIDTH must be >= 1 and ADDR_W >= 2 (instance %m)");
        $finish;
    end
end

reg [WIDTH-1:0] mem [0:DEPTH-1];

// ---------------------------------------------------------------- write side (s_clk)
reg  [PW-1:0] wr_bin;
reg  [PW-1:0] wr_gray;         // published to the read side
(* async_reg = "true" *) reg [PW-1:0] rd_gray_s1;
(* async_reg = "true" *) reg [PW-1:0] rd_gray_s2;

wire [PW-1:0] wr_bin_next = wr_bin + 1'b1;
// full: the read pointer is one lap behind -- in Gray code, the two top bits differ and the rest match
wire full = (wr_gray == {~rd_gray_s2[PW-1:PW-2], rd_gray_s2[PW-3:0]});
wire push = s_axis_tvalid && !full;

always @(posedge s_clk) begin
    if (push) begin
        mem[wr_bin[ADDR_W-1:0]] <= s_axis_tdata;
        wr_bin <= wr_bin_next;
        wr_gray <= wr_bin_next ^ (wr_bin_next >> 1);
    end
    rd_gray_s1 <= rd_gray;
    rd_gray_s2 <= rd_gray_s1;
    if (!s_rst_n) begin
        wr_bin <= {PW{1'b0}};
        wr_gray <= {PW{1'b0}};
        rd_gray_s1 <= {PW{1'b0}};
        rd_gray_s2 <= {PW{1'b0}};
    end
end

assign s_axis_tready = !full;

// ---------------------------------------------------------------- read side (m_clk)
reg  [PW-1:0] rd_bin;
reg  [PW-1:0] rd_gray;         // published to the write side
(* async_reg = "true" *) reg [PW-1:0] wr_gray_s1;
(* async_reg = "true" *) reg [PW-1:0] wr_gray_s2;

wire [PW-1:0] rd_bin_next = rd_bin + 1'b1;
wire empty = (rd_gray == wr_gray_s2);
wire pop = m_axis_tready && !empty;

always @(posedge m_clk) begin
    if (pop) begin
        rd_bin <= rd_bin_next;
        rd_gray <= rd_bin_next ^ (rd_bin_next >> 1);
    end
    wr_gray_s1 <= wr_gray;
    wr_gray_s2 <= wr_gray_s1;
    if (!m_rst_n) begin
        rd_bin <= {PW{1'b0}};
        rd_gray <= {PW{1'b0}};
        wr_gray_s1 <= {PW{1'b0}};
        wr_gray_s2 <= {PW{1'b0}};
    end
end

assign m_axis_tdata = mem[rd_bin[ADDR_W-1:0]];
assign m_axis_tvalid = !empty;

endmodule

`resetall
