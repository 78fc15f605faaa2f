// The formulas of every activation and loss, as named macros that work on
// float and on float vectors alike. The elementwise, reduction and loss
// kernels use them by name (Sources/AtelierDevices/Primitives/Activation.swift and Reductions.swift
// say which); the CPU path writes the same formulas in Swift and C, and the
// parity tests hold the two together. A kernel developer edits them here
// (with ATELIER_KERNEL_DIR, without rebuilding). EXP is Kernels/fastmath.cl's.

// Activations: y from x and the parameter p (LeakyReLU's slope).
#define ATELIER_IDENTITY(x, p) (x)
#define ATELIER_RELU(x, p) fmax((x), 0.0f)
#define ATELIER_LEAKY_RELU(x, p) ((x) > 0.0f ? (x) : (p) * (x))
// One exp of -|x|, which never overflows, and a select: no branch, so it vectorises.
#define ATELIER_SIGMOID(x, p) (((x) >= 0.0f ? 1.0f : EXP(-fabs(x))) / (1.0f + EXP(-fabs(x))))
// tanh(|x|) = (1 - e) / (1 + e) with e = exp(-2|x|): vectorised on PoCL,
// whose tanh() and expm1() are not; absolute error ~1e-7.
#define ATELIER_TANH(x, p) copysign((1.0f - EXP(-2.0f * fabs(x))) / (1.0f + EXP(-2.0f * fabs(x))), (x))

// Their gradients through the output y: dx from y, dy and p.
#define ATELIER_IDENTITY_GRAD(y, dy, p) (dy)
#define ATELIER_RELU_GRAD(y, dy, p) ((y) > 0.0f ? (dy) : 0.0f)
#define ATELIER_LEAKY_RELU_GRAD(y, dy, p) ((y) > 0.0f ? (dy) : (p) * (dy))
#define ATELIER_SIGMOID_GRAD(y, dy, p) ((dy) * (y) * (1.0f - (y)))
#define ATELIER_TANH_GRAD(y, dy, p) ((dy) * (1.0f - (y) * (y)))

// Losses: the per-element term of prediction a and target b (the loss is
// its mean), and the gradient of s times the summed terms with respect to a
// (s = weight / count for a weighted mean).
#define ATELIER_SUM(a, b) (a)
#define ATELIER_SUM_GRAD(a, b, s) ((a) * 0.0f + (s))
// Binary cross-entropy on logits, in the form that never overflows.
#define ATELIER_BCE_LOGITS(a, b) (fmax((a), 0.0f) - (a) * (b) + log1p(exp(-fabs(a))))
#define ATELIER_BCE_LOGITS_GRAD(a, b, s) ((s) * (((a) >= 0.0f ? 1.0f : exp(-fabs(a))) / (1.0f + exp(-fabs(a))) - (b)))
#define ATELIER_MSE(a, b) (((a) - (b)) * ((a) - (b)))
#define ATELIER_MSE_GRAD(a, b, s) (2.0f * (s) * ((a) - (b)))
#define ATELIER_L1(a, b) fabs((a) - (b))
#define ATELIER_L1_GRAD(a, b, s) ((s) * sign((a) - (b)))
// Hinge on scores a with labels b = +1 (real) or -1 (fake).
#define ATELIER_HINGE(a, b) fmax(1.0f - (a) * (b), 0.0f)
#define ATELIER_HINGE_GRAD(a, b, s) (-(s) * (b) * (1.0f - step(1.0f, (a) * (b))))
