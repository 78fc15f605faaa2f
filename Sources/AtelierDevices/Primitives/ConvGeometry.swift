/// The shape of a 2-D convolution over NCHW input with KCRS weights: the one
/// place output sizes and the column layout are defined.
///
/// Columns are [C*R*S, N*P*Q]: row (c, r, s), column (n, p, q). A whole batch
/// is then a single GEMM: Y'[K, NPQ] = W[K, CRS] * columns.
public struct ConvGeometry: Sendable, Hashable, CustomStringConvertible {
    /// Images (N).
    public var batch: Int          // N
    /// Input channels (C).
    public var inChannels: Int     // C
    /// Input rows (H).
    public var height: Int         // H
    /// Input columns (W).
    public var width: Int          // W
    /// Output channels (K).
    public var outChannels: Int    // K
    /// Kernel rows (R).
    public var kernelHeight: Int   // R
    /// Kernel columns (S).
    public var kernelWidth: Int    // S
    /// Vertical stride.
    public var strideH: Int
    /// Horizontal stride.
    public var strideW: Int
    /// Zero rows added above and below.
    public var padH: Int
    /// Zero columns added left and right.
    public var padW: Int

    /// A convolution with a square kernel and the same stride and padding both ways.
    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.init(batch: batch, inChannels: inChannels, height: height, width: width,
                  outChannels: outChannels, kernelHeight: kernel, kernelWidth: kernel,
                  strideH: stride, strideW: stride, padH: padding, padW: padding)
    }

    /// A convolution with its own vertical and horizontal kernel, stride and padding.
    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernelHeight: Int, kernelWidth: Int, strideH: Int, strideW: Int, padH: Int, padW: Int) {
        self.batch = batch
        self.inChannels = inChannels
        self.height = height
        self.width = width
        self.outChannels = outChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideH = strideH
        self.strideW = strideW
        self.padH = padH
        self.padW = padW
    }

    /// Output rows (P).
    public var outHeight: Int { (height + 2 * padH - kernelHeight) / strideH + 1 }   // P
    /// Output columns (Q).
    public var outWidth: Int { (width + 2 * padW - kernelWidth) / strideW + 1 }      // Q

    /// Floats of the input, N C H W.
    public var inputCount: Int { batch * inChannels * height * width }
    /// Floats of the kernel, K C R S.
    public var weightCount: Int { outChannels * inChannels * kernelHeight * kernelWidth }
    /// Floats of the output, N K P Q.
    public var outputCount: Int { batch * outChannels * outHeight * outWidth }
    /// The input as [N, C, H W] for channel-wise kernels.
    public var inputLayout: ChannelLayout { ChannelLayout(outer: batch, channels: inChannels, inner: height * width) }
    /// The output as [N, K, P Q].
    public var outputLayout: ChannelLayout { ChannelLayout(outer: batch, channels: outChannels, inner: outHeight * outWidth) }
    /// Rows of the im2col matrix (C R S).
    public var columnRows: Int { inChannels * kernelHeight * kernelWidth }   // CRS
    /// Columns of the im2col matrix (N P Q).
    public var columnCols: Int { batch * outHeight * outWidth }              // NPQ
    /// Floats of the im2col matrix.
    public var columnCount: Int { columnRows * columnCols }

    /// Multiply-adds of the forward pass, times two. Backward data and
    /// backward weights cost the same.
    public var flops: Double { 2 * Double(outputCount) * Double(columnRows) }

    /// `N C HxW -> K RxS s p -> PxQ`, for reports.
    public var description: String {
        "N\(batch) C\(inChannels) \(height)x\(width) -> K\(outChannels) \(kernelHeight)x\(kernelWidth)"
            + " s\(strideH) p\(padH) -> \(outHeight)x\(outWidth)"
    }

    package func validate() throws {
        let positive = [batch, inChannels, height, width, outChannels, kernelHeight, kernelWidth, strideH, strideW]
        guard positive.allSatisfy({ $0 > 0 }), padH >= 0, padW >= 0 else {
            throw ShapeError("convolution \(self): sizes and strides must be positive and padding non-negative")
        }
        guard height + 2 * padH >= kernelHeight, width + 2 * padW >= kernelWidth else {
            throw ShapeError("convolution \(self): the \(kernelHeight)x\(kernelWidth) kernel is larger than the padded \(height)x\(width) input")
        }
        try ShapeError.expectIndexable(columnCount, "the column buffer of convolution \(self)")
        try ShapeError.expectIndexable(inputCount, "the input of convolution \(self)")
    }

    /// The geometry and the sizes of a convolution's three operands, for
    /// every backend alike; `gradients` names the ones that are gradients.
    func validate(image: DeviceBuffer, weight: DeviceBuffer, output: DeviceBuffer,
                  gradients: Set<ConvOperand> = []) throws {
        try validate()
        func label(_ operand: ConvOperand) -> String {
            "convolution \(self) \(operand.rawValue)\(gradients.contains(operand) ? " gradient" : "")"
        }
        try ShapeError.expect(image, count: inputCount, label(.input))
        try ShapeError.expect(weight, count: weightCount, label(.weight))
        try ShapeError.expect(output, count: outputCount, label(.output))
    }
}

enum ConvOperand: String { case input, weight, output }
