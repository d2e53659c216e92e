// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// fold_param_rom -- a $readmemh-initialised parameter ROM read in a fixed
// cyclic order: one word per beat of a folded stream (the thresholds or
// coefficients of the PE channels of fold nf = 0 .. NF-1, or the weights of
// beat 0 .. SF*NF-1 of a vector), then word 0 again.  It holds the memory and
// the beat counter that addresses it, so that the memory stays in the module
// that has the file parameter (synthesis infers a ROM from it: block RAM,
// distributed RAM or LUTs, as the parent's own memory did).
//
// Parameters:
//   WIDTH    word width in bits, >= 1
//   DEPTH    words, >= 1 (the period of the schedule, e.g. NF)
//   FILE     path of the memory file, read relative to the simulator's or
//            synthesis tool's working folder
//   REG_READ 1: registered read.  `word` is loaded with the word of the
//               current beat when `next` is high, in the same cycle as the
//               parent's input register takes that beat (the parameter word
//               arrives with the beat it belongs to, one cycle after the
//               handshake).
//            2: registered read every cycle (a free-running parent: a
//               pipeline without an enable).  In the cycle after `next`,
//               `word` is the word of the beat taken, as with 1; in other
//               cycles it is the word of the next beat (the parent reads it
//               only in the cycle after a handshake).  No clock enable: the
//               read register drives nothing but the parent's pipeline.
//            0: asynchronous read.  `word` is the word of the beat about to
//               be taken, combinationally from the counter (for a parent that
//               uses it in the cycle of the handshake).
//   STYLE    where synthesis puts the memory (FINN's ram_style values):
//            "auto"        the tool decides;
//            "block"       block RAM;
//            "distributed" LUT logic: each output bit a function of the
//                          address (a shallow, wide memory -- the weights of a
//                          highly parallel MVAU -- would waste block RAMs: a
//                          28 x 7168-bit ROM needs 200 DP16KD as block RAM,
//                          about 2 LUT4 per bit as logic).
//
// Interface: not a stream.  `next` is the parent's handshake of the beat the
// current word belongs to (tvalid && tready of its input); the counter
// advances on it, wrapping from DEPTH-1 to 0.
//
// Memory file ($readmemh, one hex word per line, word 0 first): DEPTH words of
// WIDTH bits, word i for beat i of the period (layouts: see the parents).
//
// Timing: REG_READ = 1: `word` changes one clock edge after `next`; REG_READ
// = 2: one clock edge after the counter, so `word` is the taken beat's in the
// cycle after `next`; REG_READ = 0: `word` changes one clock edge after `next`
// to the next beat's word.
//
// Reset: rst_n synchronous, active low; the counter returns to word 0 (the
// registered word keeps its contents).
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module fold_param_rom #(
    // Word width in bits, >= 1.
    parameter WIDTH = 8,
    // Words (beats per period), >= 1.
    parameter DEPTH = 2,
    // Path of the memory file (see header).
    parameter FILE = "params.mem",
    // 1: registered read on `next`; 2: registered read every cycle; 0:
    // asynchronous read of the current word.
    parameter REG_READ = 1,
    // "auto", "block" or "distributed" (see header; 11 characters at most).
    parameter [8*11-1:0] STYLE = "auto"
) (
    // Clock and reset
    input  wire             clk,            // rising edge
    input  wire             rst_n,          // synchronous, active low

    // Schedule
    input  wire             next,           // the current beat is taken
    output wire [WIDTH-1:0] word
);

localparam A_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
localparam [31:0] LAST32 = DEPTH - 1;
localparam [A_W-1:0] LAST = LAST32[A_W-1:0];
// the STYLE values, as wide as STYLE
localparam [8*11-1:0] AUTO = "auto";
localparam [8*11-1:0] BLOCK = "block";
localparam [8*11-1:0] DISTRIBUTED = "distributed";

initial begin
    if (WIDTH < 1 || DEPTH < 1 || (REG_READ < 0 || REG_READ > 2) ||
        (STYLE != AUTO && STYLE != BLOCK && STYLE != DISTRIBUTED)) begin
        $error("fold_param_rom: need WIDTH >= 1, DEPTH >= 1, REG_READ 0, 1 or 2, STYLE auto, block or distributed (instance %m)");
        $finish;
    end
end

reg  [A_W-1:0]   addr;             // word of the current beat
wire [WIDTH-1:0] read_word;        // mem[addr]

// The memory, with the synthesis attribute of its STYLE (Yosys reads
// rom_style; "logic" maps a ROM to LUTs).
generate
    if (STYLE == DISTRIBUTED) begin : g_logic
        (* rom_style = "logic" *) reg [WIDTH-1:0] mem [0:DEPTH-1];
        initial $readmemh(FILE, mem);
        assign read_word = mem[addr];
    end else if (STYLE == BLOCK) begin : g_block
        (* rom_style = "block" *) reg [WIDTH-1:0] mem [0:DEPTH-1];
        initial $readmemh(FILE, mem);
        assign read_word = mem[addr];
    end else begin : g_auto
        reg [WIDTH-1:0] mem [0:DEPTH-1];
        initial $readmemh(FILE, mem);
        assign read_word = mem[addr];
    end
endgenerate

always @(posedge clk) begin
    if (next)
        addr <= (addr == LAST) ? {A_W{1'b0}} : addr + 1'b1;
    if (!rst_n)
        addr <= {A_W{1'b0}};
end

generate
    if (REG_READ == 1) begin : g_reg
        reg [WIDTH-1:0] word_q;
        always @(posedge clk) begin
            if (next)
                word_q <= read_word;
        end
        assign word = word_q;
    end else if (REG_READ == 2) begin : g_reg_free
        reg [WIDTH-1:0] word_q;
        always @(posedge clk)
            word_q <= read_word;
        assign word = word_q;
    end else begin : g_async
        assign word = read_word;
    end
endgenerate

endmodule

`resetall
