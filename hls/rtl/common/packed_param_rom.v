// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// packed_param_rom -- a deep parameter ROM read in a fixed cyclic order, one
// word per beat, stored PACK beats to a memory word so that the memory is
// wide and shallow.
//
// Why: a memory deeper than the deepest block-RAM shape (16,384 words: ECP5
// DP16KD and 7-series RAMB18 at 1 bit) is cascaded in depth, and the
// multiplexer behind the block RAMs' outputs (which have no output register
// in the open flow) sets Fmax: the fully folded demo, MVAU_0's 200,704 x
// 1-bit weights in 13 DP16KD, ran at 86.9 MHz on ECP5.  Stored PACK beats to
// a word, the memory is shallow enough for one block RAM deep (2,048 words:
// hw_bnn.rtl.memfiles.param_rom_pack), its blocks side by side with no
// multiplexer; their read register loads a shift register, and the beats are
// shifted out of it.
//
// Parameters:
//   WIDTH  beat word width in bits, >= 1
//   DEPTH  beats per period (e.g. SF*NF weight words), a multiple of PACK
//   PACK   beats per memory word, >= 2 (hw_bnn.rtl.memfiles.param_rom_pack)
//   FILE   path of the memory file, read relative to the simulator's or
//          synthesis tool's working folder
//
// Interface: not a stream.  `next` is the parent's handshake of the beat the
// current word belongs to; `word`, as fold_param_rom.v with REG_READ = 2 (a
// free-running parent): in the cycle after `next` it is the word of the beat
// taken.  `ready` is low for the two cycles after reset, while the first
// memory word is read; the parent takes no beat then (a register output).
//
// Memory file ($readmemh, one hex word per line, word 0 first): DEPTH / PACK
// words of PACK * WIDTH bits; word g holds beat g*PACK + j at bits
// [j*WIDTH +: WIDTH] (hw_bnn.rtl.memfiles.pack_words).
//
// Timing: the memory word of the next group is read while the current one is
// shifted out (PACK >= 2 beats give it the cycle it needs), so a beat can be
// taken every cycle once `ready` is high.
//
// Reset: rst_n synchronous, active low; back to beat 0, `ready` low for two
// cycles.
// Used by: mvau.v.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module packed_param_rom #(
    // Beat word width in bits, >= 1.
    parameter WIDTH = 1,
    // Beats per period, a multiple of PACK.
    parameter DEPTH = 1024,
    // Beats per memory word, >= 2.
    parameter PACK = 2,
    // Path of the memory file (see header).
    parameter FILE = "params.mem"
) (
    // Clock and reset
    input  wire             clk,            // rising edge
    input  wire             rst_n,          // synchronous, active low

    // Schedule
    input  wire             next,           // the current beat is taken
    output wire             ready,          // a beat may be taken
    output wire [WIDTH-1:0] word
);

localparam NG = DEPTH / PACK;                   // memory words (groups of beats)
localparam G_W = (NG > 1) ? $clog2(NG) : 1;
localparam P_W = $clog2(PACK);
localparam PW = PACK * WIDTH;                   // memory word width
localparam [31:0] NG_LAST32 = NG - 1;
localparam [31:0] P_LAST32 = PACK - 1;
localparam [G_W-1:0] NG_LAST = NG_LAST32[G_W-1:0];
localparam [P_W-1:0] P_LAST = P_LAST32[P_W-1:0];

initial begin
    if (WIDTH < 1 || PACK < 2 || DEPTH < PACK || DEPTH % PACK != 0) begin
        $error("packed_param_rom: need WIDTH >= 1, PACK >= 2, DEPTH a multiple of PACK (instance %m)");
        $finish;
    end
end

reg [PW-1:0] mem [0:NG-1];
initial $readmemh(FILE, mem);

reg  [G_W-1:0] fetch;           // group read into rd_q: the one after the current
reg  [PW-1:0]  rd_q;            // mem[fetch], the memory's read register
reg  [PW-1:0]  cur;             // the current group, the next beat to take in the low bits
reg  [P_W-1:0] pos;             // beats of the current group taken
reg  [1:0]     warm;            // 0: reading group 0, 1: loading it, 2: ready
reg  [WIDTH-1:0] word_q;

assign ready = warm[1];
assign word = word_q;

// The shift register moves on a taken beat and loads a memory word at the
// last beat of a group (and once after reset): one enable and a two-way
// choice per bit, so each bit is one LUT beside its flip-flop's clock enable.
wire take = warm[1] && next;
wire load = (take && pos == P_LAST) || (warm == 2'd1);
wire step = take || (warm == 2'd1);

always @(posedge clk) begin
    rd_q <= mem[fetch];
    word_q <= cur[0 +: WIDTH];
    if (step)
        cur <= load ? rd_q : cur >> WIDTH;
    // the next group's word reaches rd_q one cycle after its fetch, before
    // the group in cur runs out (PACK >= 2)
    if (load)
        fetch <= (fetch == NG_LAST) ? {G_W{1'b0}} : fetch + 1'b1;
    if (take)
        pos <= (pos == P_LAST) ? {P_W{1'b0}} : pos + 1'b1;
    if (!warm[1])
        warm <= warm + 1'b1;            // 0: reading group 0, 1: loading it
    if (!rst_n) begin
        fetch <= {G_W{1'b0}};
        pos <= {P_W{1'b0}};
        warm <= 2'd0;
    end
end

endmodule

`resetall
