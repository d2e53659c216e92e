// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// hyper_function -- the fixed-point hyper-function of per-sample thresholds
// (hw_bnn node `FrameHyperFunction`; SD-BNN squeeze-excitation, DyBNN).
//
// Per frame the input is F = PIXELS*NF payload beats (NF = C/PE) of the
// layer's map, then NF beats of its per-channel sums S (lane e of beat g:
// channel g*PE+e; signed W-bit elements).  The payload passes through
// unchanged with tag 0.  From the sums the unit computes, exactly as
// hw_bnn/features/dynamic_threshold/reference.py hyper_function:
//     p[c]    = POOL_OFFSET + #{k : s_c*S[c] >= PT[c][k]}      (s_c = -1 if sign)
//     a1[j]   = sum_c W1[j][c] * p[c];     h[j]    = #{k : a1[j] >= HT[j][k]}
//     a2[i]   = sum_j W2[i][j] * h[j];     code[i] = #{k : a2[i] >= OT[i][k]}
//     idx[c]  = code[c] * (NO+1)^(HEADS-1) + ... + code[(HEADS-1)*C + c]
//     T[c]    = TABLE[c][idx[c]]
// and inserts the NF beats of T (tag 1) into the output as soon as they are
// ready, ahead of waiting payload beats, so they may land among the payload
// beats of the next frame.  Output: PE*W+1 bits, the tag in the MSB.
//
// Architecture: the pooled values are computed as the sum beats arrive (NP
// comparators per lane).  Layer 1 runs in ceil(J/MACS) passes of C cycles
// (MACS rows at a time) plus one threshold cycle each, layer 2 in
// ceil(I/MACS) passes of J + 1 cycles (I = HEADS*C), the table is read one
// channel per cycle (C + 1 cycles), then the NF threshold beats leave.
// Compute cycles per frame, from the last sum beat to the last threshold
// beat at full rate:
//     ceil(J/MACS)*(C+1) + ceil(I/MACS)*(J+1) + C + 1 + NF + 1
// The sums of the next frame wait until the thresholds have left.
//
// Storage: the two layers' weights are read one cycle ahead at a clock edge
// (block RAM where synthesis finds it worth one); the pooled values (NF
// words of PE values), the hidden values (JB words of MACS values), the
// codes (IB words of MACS codes) and the
// thresholds (one memory of NF values per lane) are memories written at one
// address per cycle and read asynchronously, so that synthesis maps them to
// LUT RAM instead of flip-flops and wide multiplexers; the codes are read at
// HEADS addresses per cycle (synthesis replicates them per read port).  The
// counters that address them follow `step` (pe_fold/pe_lane: channel `step`;
// g_head[h] addr/lane: row h*C + step, and for h = 0 in layer 2 hidden unit
// `step`), so no index is divided.  The cycle counts are those of register
// arrays: every read is asynchronous, as it was.
//
// Stream protocol and packing as thresholding.v.  s_axis_tready depends on
// m_axis_tvalid/m_axis_tready for payload beats.
//
// Memory files ($readmemh, one hex word per line; hw_bnn/features/dynamic_threshold/memfiles.py):
//   POOL_FILE : NF words of PE*(1+NP*(W+1)) bits; lane e of word g at
//               [e*(1+NP*(W+1))]: bit 0 the sign of channel g*PE+e, then
//               its NP thresholds of W+1 bits (two's complement).
//   W1_FILE   : ceil(J/MACS)*C words of MACS*WT_W bits; word b*C+c, lane l:
//               W1[b*MACS+l][c] (0 for padding rows).
//   HID_FILE  : ceil(J/MACS) words of MACS*NH*A1_W bits; word b, lane l,
//               threshold k at [(l*NH+k)*A1_W].
//   W2_FILE   : ceil(I/MACS)*J words of MACS*WT_W bits; word b*J+j, lane l:
//               W2[b*MACS+l][j].
//   OUT_FILE  : ceil(I/MACS) words of MACS*NO*A2_W bits, as HID_FILE.
//   TABLE_FILE: C*L words of W bits (L = (NO+1)^HEADS); word c*L+idx.
//
// Reset: rst_n synchronous, active low; clears valid bits and state only.
// Submodules: hyper_mac_layer (hyper_mac_layer.v), the MAC lanes and
// quantisers of layer 1 (u_layer1) and of layer 2 (u_layer2).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hyper_function #(
    // Number of channels, >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Pixels per frame, >= 1.
    parameter PIXELS = 2,
    // Stream element width in bits (sums in, thresholds out), 2 .. 48.
    parameter W = 12,
    // Hidden units of the hyper-function, >= 1.
    parameter J = 2,
    // Codes per channel (I = HEADS*C output rows), >= 1.
    parameter HEADS = 1,
    // Pool thresholds per channel, >= 1.
    parameter NP = 3,
    // Added to the pool threshold count (the quantizer's minimum code).
    parameter POOL_OFFSET = -2,
    // Width of the pooled values in bits (two's complement), >= 2.
    parameter P_W = 3,
    // Width of the weights W1 and W2 in bits (two's complement), >= 2.
    parameter WT_W = 4,
    // Width of a1 and of the hidden thresholds in bits (two's complement).
    parameter A1_W = 12,
    // Hidden thresholds per row, >= 1.
    parameter NH = 3,
    // Width of the hidden values h in bits (unsigned), 2^H_W > NH.
    parameter H_W = 2,
    // Width of a2 and of the output thresholds in bits (two's complement).
    parameter A2_W = 12,
    // Output thresholds per row, >= 1 (NO+1 levels per code).
    parameter NO = 3,
    // Parallel multiply-accumulate lanes, >= 1.
    parameter MACS = 1,
    // Paths of the memory files (see header).
    parameter POOL_FILE = "pool.mem",
    parameter W1_FILE = "w1.mem",
    parameter HID_FILE = "hidden.mem",
    parameter W2_FILE = "w2.mem",
    parameter OUT_FILE = "out.mem",
    parameter TABLE_FILE = "table.mem"
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire [PE*W-1:0]  s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [PE*W:0]    m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

function integer power;
    input integer base, exponent;
    integer k;
    begin
        power = 1;
        for (k = 0; k < exponent; k = k + 1)
            power = power * base;
    end
endfunction

localparam NF = C / PE;
localparam F = PIXELS * NF;
localparam I = HEADS * C;
localparam JB = (J + MACS - 1) / MACS;
localparam IB = (I + MACS - 1) / MACS;
localparam L = power(NO + 1, HEADS);
localparam LWP = 1 + NP * (W + 1);
localparam CODE_W = $clog2(NO + 1);
localparam CNT_W = $clog2(F + NF + 1);
localparam IX_W = (C * L > 1) ? $clog2(C * L) : 1;
localparam K_W = $clog2(C + J + 2);
localparam B_W = $clog2(JB + IB + 1);
localparam PC_W = $clog2(NP + 1);
localparam [31:0] F32 = F;
localparam [31:0] NF32 = NF;

localparam [2:0] IDLE = 3'd0, LAYER1 = 3'd1, HIDDEN = 3'd2, LAYER2 = 3'd3, CODES = 3'd4, TABLE = 3'd5,
                 EMIT = 3'd6;

initial begin
    if (C < 1 || PE < 1 || C % PE != 0 || PIXELS < 1 || W < 2 || J < 1 || HEADS < 1 || NP < 1 ||
        NH < 1 || NO < 1 || MACS < 1 || (1 << H_W) <= NH || P_W < 2 || WT_W < 2) begin
        $error("hyper_function: illegal parameters (instance %m)");
        $finish;
    end
end

// ---- parameter memories ----
reg [PE*LWP-1:0]        pool_mem [0:NF-1];
reg [MACS*WT_W-1:0]     w1_mem [0:JB*C-1];
reg [MACS*NH*A1_W-1:0]  hid_mem [0:JB-1];
reg [MACS*WT_W-1:0]     w2_mem [0:IB*J-1];
reg [MACS*NO*A2_W-1:0]  out_mem [0:IB-1];
reg [W-1:0]             table_mem [0:C*L-1];
initial begin
    $readmemh(POOL_FILE, pool_mem);
    $readmemh(W1_FILE, w1_mem);
    $readmemh(HID_FILE, hid_mem);
    $readmemh(W2_FILE, w2_mem);
    $readmemh(OUT_FILE, out_mem);
    $readmemh(TABLE_FILE, table_mem);
end

// ---- state ----
localparam FOLD_W = (NF > 1) ? $clog2(NF) : 1;
localparam LANE_W = (PE > 1) ? $clog2(PE) : 1;
localparam RA_W = ((JB > IB ? JB : IB) > 1) ? $clog2(JB > IB ? JB : IB) : 1;
localparam ML_W = (MACS > 1) ? $clog2(MACS) : 1;
reg  [2:0]          state;
reg                 in_sums;            // the input is at the sum beats of a frame
reg  [CNT_W-1:0]    in_count;           // beats of the current part of the frame
reg  [B_W-1:0]      block;              // pass of a layer (MACS rows at a time)
reg  [K_W-1:0]      step;               // input index within a pass / channel of the table
reg  [FOLD_W-1:0]   pe_fold;            // step = pe_fold*PE + pe_lane
reg  [LANE_W-1:0]   pe_lane;
reg  [IX_W-1:0]     table_addr;
reg                 table_pending;      // a table read was issued last cycle
reg  [FOLD_W-1:0]   table_fold;         // where that read goes: lane table_lane of word table_fold
reg  [LANE_W-1:0]   table_lane;

reg  [PE*P_W-1:0]       pooled_mem [0:NF-1];
reg  [MACS*H_W-1:0]     hidden_mem [0:JB-1];
reg  [MACS*CODE_W-1:0]  codes_mem [0:IB-1];

// ---- output register ----
reg  [PE*W:0]   out_q;
reg             out_v;
wire en = !out_v || m_axis_tready;
wire emit = state == EMIT && en;
wire pass = !in_sums && s_axis_tvalid && en && state != EMIT;
wire take_sum = in_sums && s_axis_tvalid && state == IDLE;
assign s_axis_tready = in_sums ? state == IDLE : (en && state != EMIT);

// ---- pooled values of the PE lanes of a sum beat ----
wire [FOLD_W-1:0] sum_fold = in_count[FOLD_W-1:0];
wire [PE*P_W-1:0] pool_word;
genvar e;
generate
    for (e = 0; e < PE; e = e + 1) begin : g_pool
        wire [LWP-1:0] word = pool_mem[sum_fold][e*LWP +: LWP];
        wire [W-1:0] sum_raw = s_axis_tdata[e*W +: W];
        wire signed [W:0] sum = {sum_raw[W-1], sum_raw};
        wire signed [W:0] signed_sum = word[0] ? -sum : sum;
        reg [PC_W-1:0] count;
        integer k;
        always @* begin
            count = {PC_W{1'b0}};
            for (k = 0; k < NP; k = k + 1)
                count = count + {{(PC_W-1){1'b0}}, signed_sum >= $signed(word[1 + k*(W+1) +: W+1])};
        end
        /* verilator lint_off UNUSEDSIGNAL */  // P_W bits hold every pooled value
        wire signed [31:0] value = POOL_OFFSET + $signed({{(32-PC_W){1'b0}}, count});
        /* verilator lint_on UNUSEDSIGNAL */
        assign pool_word[e*P_W +: P_W] = value[P_W-1:0];
    end
endgenerate

// The counters below index memories of C, J, JB, IB ... words and are wider than
// those indices; their values always lie inside the memories.  Products and sums
// are sign-extended to the accumulator widths, which the compiler sizes for the
// exact ranges (FrameHyperFunction.widths).
/* verilator lint_off WIDTHEXPAND */
/* verilator lint_off WIDTHTRUNC */
localparam [31:0] C32 = C;
localparam [31:0] J32 = J;
localparam [31:0] JB32 = JB;
localparam [31:0] IB32 = IB;
localparam [31:0] L32 = L;

// ---- step and the counters that follow it ----
wire sums_done = take_sum && in_count == NF32[CNT_W-1:0] - 1'b1;
wire layer1_last = {{(32-K_W){1'b0}}, step} == C32 - 1;
wire layer2_last = {{(32-K_W){1'b0}}, step} == J32 - 1;
wire table_issue = state == TABLE && {{(32-K_W){1'b0}}, step} < C32;
wire emit_last = {{(32-K_W){1'b0}}, step} == NF32 - 1;
wire step_clear = sums_done || (state == LAYER1 && layer1_last) || (state == LAYER2 && layer2_last) ||
                  (state == TABLE && !table_issue && !table_pending) || (emit && emit_last);
wire step_inc = (state == LAYER1 && !layer1_last) || (state == LAYER2 && !layer2_last) || table_issue ||
                (emit && !emit_last);
always @(posedge clk) begin
    if (step_clear) begin
        step <= {K_W{1'b0}};
        pe_fold <= {FOLD_W{1'b0}};
        pe_lane <= {LANE_W{1'b0}};
    end else if (step_inc) begin
        step <= step + 1'b1;
        if (pe_lane == PE - 1) begin
            pe_lane <= {LANE_W{1'b0}};
            pe_fold <= pe_fold + 1'b1;
        end else begin
            pe_lane <= pe_lane + 1'b1;
        end
    end
end

// row h*C + step of the codes: lane `lane` of word `addr` of head h; head 0's
// counters also address hidden unit `step` in layer 2
/* verilator lint_off UNUSEDSIGNAL */  // sized for the codes' words, which may outnumber the hidden ones
wire [RA_W-1:0] hidden_addr;
/* verilator lint_on UNUSEDSIGNAL */
wire [ML_W-1:0] hidden_lane;
wire [HEADS*CODE_W-1:0] head_code;
genvar h;
generate
    for (h = 0; h < HEADS; h = h + 1) begin : g_head
        localparam [31:0] ROW0 = h * C;
        reg [RA_W-1:0] addr;
        reg [ML_W-1:0] lane;
        always @(posedge clk) begin
            if (step_clear) begin
                addr <= ROW0 / MACS;
                lane <= ROW0 % MACS;
            end else if (step_inc) begin
                if (lane == MACS - 1) begin
                    lane <= {ML_W{1'b0}};
                    addr <= addr + 1'b1;
                end else begin
                    lane <= lane + 1'b1;
                end
            end
        end
        if (h == 0) begin : g_hidden
            assign hidden_addr = addr;
            assign hidden_lane = lane;
        end
        wire [MACS*CODE_W-1:0] word = codes_mem[addr];
        assign head_code[h*CODE_W +: CODE_W] = word[lane*CODE_W +: CODE_W];
    end
endgenerate

// ---- the two layers: MAC lanes and their quantisers ----
// The weights are read at a clock edge, so that synthesis can put them in block
// RAM (read combinationally they became thousands of LUTs of logic).  A layer
// reads its memory in order, one word per cycle of the layer's state, from word
// 0 of the frame: the pointer counts those cycles, and the read one cycle ahead
// at the pointer's next value gives word block*C + step (block*J + step) in the
// cycle that uses it.
localparam W1P_W = $clog2(JB * C + 1);
localparam W2P_W = $clog2(IB * J + 1);
reg  [W1P_W-1:0] w1_ptr;
reg  [W2P_W-1:0] w2_ptr;
wire [W1P_W-1:0] w1_ptr_next = sums_done ? {W1P_W{1'b0}} : w1_ptr + (state == LAYER1);
wire [W2P_W-1:0] w2_ptr_next = sums_done ? {W2P_W{1'b0}} : w2_ptr + (state == LAYER2);
reg  [MACS*WT_W-1:0] w1_word;
reg  [MACS*WT_W-1:0] w2_word;
always @(posedge clk) begin
    w1_ptr <= w1_ptr_next;
    w2_ptr <= w2_ptr_next;
    w1_word <= w1_mem[w1_ptr_next];
    w2_word <= w2_mem[w2_ptr_next];
end
wire [MACS*NH*A1_W-1:0] hid_word = hid_mem[block];
wire [MACS*NO*A2_W-1:0] out_word = out_mem[block];
wire [MACS*H_W-1:0] hidden_level;
wire [MACS*CODE_W-1:0] code_level;
wire step_first = step == {K_W{1'b0}};
wire [PE*P_W-1:0] pooled_word = pooled_mem[pe_fold];
wire [MACS*H_W-1:0] hidden_word = hidden_mem[hidden_addr];

hyper_mac_layer #(
    .MACS(MACS), .X_W(P_W), .X_SIGNED(1), .WT_W(WT_W), .ACC_W(A1_W), .N_THR(NH), .LEVEL_W(H_W)
) u_layer1 (
    .clk(clk),
    .en(state == LAYER1),
    .first(step_first),
    .x(pooled_word[pe_lane*P_W +: P_W]),
    .w_word(w1_word),
    .thr_word(hid_word),
    .level(hidden_level)
);

hyper_mac_layer #(
    .MACS(MACS), .X_W(H_W), .X_SIGNED(0), .WT_W(WT_W), .ACC_W(A2_W), .N_THR(NO), .LEVEL_W(CODE_W)
) u_layer2 (
    .clk(clk),
    .en(state == LAYER2),
    .first(step_first),
    .x(hidden_word[hidden_lane*H_W +: H_W]),
    .w_word(w2_word),
    .thr_word(out_word),
    .level(code_level)
);

// ---- table index of channel `step` ----
reg [31:0] index;
integer head;
always @* begin
    index = 32'd0;
    for (head = 0; head < HEADS; head = head + 1)
        index = index * (NO + 1) + {{(32-CODE_W){1'b0}}, head_code[head*CODE_W +: CODE_W]};
end

// ---- the thresholds: one memory per lane, written one channel per cycle ----
wire [W-1:0] table_value = table_mem[table_addr];
wire [PE*W-1:0] threshold_word;
generate
    for (e = 0; e < PE; e = e + 1) begin : g_thresholds
        reg [W-1:0] mem [0:NF-1];
        always @(posedge clk) begin
            if (table_pending && table_lane == e)
                mem[table_fold] <= table_value;
        end
        assign threshold_word[e*W +: W] = mem[step];
    end
endgenerate

always @(posedge clk) begin
    // input side: payload through, sums into the pooled values
    if (pass || take_sum) begin
        if (in_count == (in_sums ? NF32[CNT_W-1:0] : F32[CNT_W-1:0]) - 1'b1) begin
            in_count <= {CNT_W{1'b0}};
            in_sums <= !in_sums;
        end else begin
            in_count <= in_count + 1'b1;
        end
    end
    if (take_sum)
        pooled_mem[sum_fold] <= pool_word;
    if (sums_done) begin
        state <= LAYER1;
        block <= {B_W{1'b0}};
    end
    // the computation (`step` and its counters: above)
    case (state)
        LAYER1: begin
            if (layer1_last)
                state <= HIDDEN;
        end
        HIDDEN: begin
            hidden_mem[block] <= hidden_level;
            if ({{(32-B_W){1'b0}}, block} == JB32 - 1) begin
                block <= {B_W{1'b0}};
                state <= LAYER2;
            end else begin
                block <= block + 1'b1;
                state <= LAYER1;
            end
        end
        LAYER2: begin
            if (layer2_last)
                state <= CODES;
        end
        CODES: begin
            codes_mem[block] <= code_level;
            if ({{(32-B_W){1'b0}}, block} == IB32 - 1) begin
                block <= {B_W{1'b0}};
                state <= TABLE;
            end else begin
                block <= block + 1'b1;
                state <= LAYER2;
            end
        end
        TABLE: begin
            // one channel per cycle: issue the read of `step`, store the one read last cycle
            table_pending <= table_issue;
            if (table_issue) begin
                table_addr <= step * L32[IX_W-1:0] + index[IX_W-1:0];
                table_fold <= pe_fold;
                table_lane <= pe_lane;
            end else if (!table_pending) begin
                state <= EMIT;
            end
        end
        EMIT: begin
            if (emit && emit_last)
                state <= IDLE;
        end
        default: ;
    endcase
    // output register
    if (emit)
        out_q <= {1'b1, threshold_word};
    else if (pass)
        out_q <= {1'b0, s_axis_tdata};
    if (en)
        out_v <= emit || pass;
    if (!rst_n) begin
        state <= IDLE;
        in_sums <= 1'b0;
        in_count <= {CNT_W{1'b0}};
        table_pending <= 1'b0;
        out_v <= 1'b0;
    end
end

/* verilator lint_on WIDTHTRUNC */
/* verilator lint_on WIDTHEXPAND */

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

`resetall
