// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// label_select -- top-K label indices of each input vector (FINN node
// `LabelSelect`, made by FINN's InferLabelSelectLayer from a TopK node).
//
// For every vector of LABELS values x[0..LABELS-1] the output is the K indices
// of the largest values, largest first; among equal values the lower index
// comes first.  This is exactly FINN's python execution of LabelSelect (ONNX
// TopK with largest = 1, sorted = 1 in onnxruntime), so for K = 1 the output
// is the first index of the maximum (numpy argmax).
//
// Input : per vector, NF = LABELS/PE beats of PE values each (FINN's folded
//         shape (..., NF, PE)); lane p of beat nf holds x[nf*PE + p].
// Output: per vector, K beats of one index each (FINN's folded output shape
//         (..., K, 1)), the largest value's index first.
//
// Method: a list of K (value, index) slots, kept sorted (largest first, ties
// in arrival order).  Each beat inserts its PE lanes one after the other, in
// lane order, into the list (a chain of PE insertion stages of K comparators
// each, in one cycle); a new value goes in front of a slot only if it is
// strictly larger, which gives the lower-index-first tie order.  After the
// last beat of a vector the list moves to an output buffer that is read out
// in K beats while the next vector streams in.
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tready only for the last beat of a vector (when
// the output buffer is still being read out).
//
// Packing (FINN convention): lane p at bits [p*IN_W +: IN_W], lane 0 in the
// LSBs, two's complement for IN_SIGNED = 1; BINARY/BIPOLAR inputs (bipolar
// -1/+1 as 0/1, which keeps the order) use IN_SIGNED = 0.  Output indices are
// unsigned, zero-extended to OUT_W bits (FINN's outputDataType, e.g. UINT8).
//
// Timing: one input beat per cycle (II = 1 on the input side, NF cycles per
// vector when K <= NF), the first output beat of a vector 1 cycle after its
// last input beat, then one per cycle (K cycles per vector on the output).
//
// Reset: rst_n synchronous, active low; clears counters and valid bits.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module label_select #(
    // Values per vector (FINN Labels), >= 1.
    parameter LABELS = 10,
    // Values per input beat (FINN PE), 1 .. LABELS, must divide LABELS.
    parameter PE = 1,
    // Indices per vector (FINN K), 1 .. LABELS.
    parameter K = 1,
    // Input value width in bits, 1 .. 32.
    parameter IN_W = 8,
    // 1 if values are two's complement, 0 if unsigned (or binary/bipolar).
    parameter IN_SIGNED = 1,
    // Output index width in bits (FINN outputDataType), 2^OUT_W >= LABELS.
    parameter OUT_W = 8
) (
    // Clock and reset
    input  wire                 clk,            // rising edge
    input  wire                 rst_n,          // synchronous, active low

    // AXI-Stream input: PE values of IN_W bits per beat
    input  wire [PE*IN_W-1:0]   s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,

    // AXI-Stream output: one index of OUT_W bits per beat, K beats per vector
    output wire [OUT_W-1:0]     m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

localparam NF = LABELS / PE;                          // input beats per vector
localparam NF_W = (NF > 1) ? $clog2(NF) : 1;
localparam IDX_W = (LABELS > 1) ? $clog2(LABELS) : 1; // index width
localparam KC_W = (K > 1) ? $clog2(K) : 1;
localparam VW = IN_W + 1;                             // comparison width (sign-extended)
localparam [31:0] NF_LAST32 = NF - 1;
localparam [NF_W-1:0] NF_LAST = NF_LAST32[NF_W-1:0];
localparam [31:0] K_LAST32 = K - 1;
localparam [KC_W-1:0] K_LAST = K_LAST32[KC_W-1:0];
localparam [31:0] PE32 = PE;
localparam [IDX_W-1:0] PE_IDX = PE32[IDX_W-1:0];

initial begin
    if (LABELS < 1 || PE < 1 || LABELS % PE != 0 || K < 1 || K > LABELS) begin
        $error("label_select: need PE dividing LABELS and 1 <= K <= LABELS (instance %m)");
        $finish;
    end
    if (IN_W < 1 || IN_W > 32 || OUT_W < IDX_W || OUT_W > 32 || (OUT_W < 32 && (1 << OUT_W) < LABELS)) begin
        $error("label_select: illegal IN_W/OUT_W (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------- input side
reg  [NF_W-1:0]   nf_cnt;                 // beat within the vector
reg  [IDX_W-1:0]  base;                   // index of lane 0 of this beat (nf_cnt*PE)
reg  [K*VW-1:0]   l_val;                  // sorted list: slot j at [j*VW +: VW]
reg  [K*IDX_W-1:0] l_idx;
reg  [K-1:0]      l_vld;

reg  [K*IDX_W-1:0] o_idx;                 // output buffer (slot 0 in the LSBs)
reg  [KC_W-1:0]   o_cnt;                  // output beat being offered
reg               o_v;

wire first = (nf_cnt == {NF_W{1'b0}});
wire last = (nf_cnt == NF_LAST);
wire o_done = !o_v || (m_axis_tready && o_cnt == K_LAST);
assign s_axis_tready = !last || o_done;
wire take = s_axis_tvalid && s_axis_tready;

// insertion chain: stage p inserts lane p into the list left by stage p-1
wire [(PE+1)*K*VW-1:0]    c_val;
wire [(PE+1)*K*IDX_W-1:0] c_idx;
wire [(PE+1)*K-1:0]       c_vld;
assign c_val[K*VW-1:0] = l_val;
assign c_idx[K*IDX_W-1:0] = l_idx;
assign c_vld[K-1:0] = first ? {K{1'b0}} : l_vld;   // a new vector starts empty

genvar gp, gj;
generate
    for (gp = 0; gp < PE; gp = gp + 1) begin : g_lane
        wire [VW-1:0] v = {(IN_SIGNED != 0) && s_axis_tdata[gp*IN_W+IN_W-1], s_axis_tdata[gp*IN_W +: IN_W]};
        localparam [31:0] P32 = gp;
        wire [IDX_W-1:0] i = base + P32[IDX_W-1:0];
        wire [K-1:0] gt;                    // v goes in front of slot j
        for (gj = 0; gj < K; gj = gj + 1) begin : g_slot
            wire [VW-1:0] sv = c_val[(gp*K+gj)*VW +: VW];
            wire [IDX_W-1:0] si = c_idx[(gp*K+gj)*IDX_W +: IDX_W];
            wire sl = c_vld[gp*K+gj];
            assign gt[gj] = !sl || ($signed(v) > $signed(sv));
            if (gj == 0) begin : g_head
                assign c_val[((gp+1)*K+gj)*VW +: VW] = gt[gj] ? v : sv;
                assign c_idx[((gp+1)*K+gj)*IDX_W +: IDX_W] = gt[gj] ? i : si;
                assign c_vld[(gp+1)*K+gj] = gt[gj] | sl;
            end else begin : g_tail
                // gt is monotone over the sorted list: the slot in front shifts down
                wire [VW-1:0] pv = c_val[(gp*K+gj-1)*VW +: VW];
                wire [IDX_W-1:0] pi = c_idx[(gp*K+gj-1)*IDX_W +: IDX_W];
                wire pl = c_vld[gp*K+gj-1];
                assign c_val[((gp+1)*K+gj)*VW +: VW] = !gt[gj] ? sv : gt[gj-1] ? pv : v;
                assign c_idx[((gp+1)*K+gj)*IDX_W +: IDX_W] = !gt[gj] ? si : gt[gj-1] ? pi : i;
                assign c_vld[(gp+1)*K+gj] = !gt[gj] ? sl : gt[gj-1] ? pl : 1'b1;
            end
        end
    end
endgenerate

wire [K*VW-1:0]    n_val = c_val[PE*K*VW +: K*VW];
wire [K*IDX_W-1:0] n_idx = c_idx[PE*K*IDX_W +: K*IDX_W];
wire [K-1:0]       n_vld = c_vld[PE*K +: K];

always @(posedge clk) begin
    if (take) begin
        l_val <= n_val;
        l_idx <= n_idx;
        l_vld <= n_vld;
        nf_cnt <= last ? {NF_W{1'b0}} : nf_cnt + 1'b1;
        base <= last ? {IDX_W{1'b0}} : base + PE_IDX;
    end
    if (!rst_n) begin
        nf_cnt <= {NF_W{1'b0}};
        base <= {IDX_W{1'b0}};
        l_vld <= {K{1'b0}};
    end
end

// --------------------------------------------------------------- output side
always @(posedge clk) begin
    if (o_v && m_axis_tready) begin
        o_idx <= o_idx >> IDX_W;
        o_cnt <= o_cnt + 1'b1;
        if (o_cnt == K_LAST)
            o_v <= 1'b0;
    end
    if (take && last) begin
        o_idx <= n_idx;
        o_cnt <= {KC_W{1'b0}};
        o_v <= 1'b1;
    end
    if (!rst_n) begin
        o_cnt <= {KC_W{1'b0}};
        o_v <= 1'b0;
    end
end

generate
    if (OUT_W > IDX_W) begin : g_ext
        assign m_axis_tdata = {{(OUT_W-IDX_W){1'b0}}, o_idx[IDX_W-1:0]};
    end else begin : g_noext
        assign m_axis_tdata = o_idx[IDX_W-1:0];
    end
endgenerate
assign m_axis_tvalid = o_v;

endmodule

`resetall
