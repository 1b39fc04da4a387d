// Small dense double-precision helpers for the quality experiment's targets and checks (d ≤ a few hundred): products,
// Frobenius norms, determinant, matrix exponential, symmetric Jacobi eigenvalues and QR. Row-major d×d arrays. These build
// *targets* and closed-form optima on the host; the adapters themselves never build a dense R (docs/04_Benchmarking.md).

namespace Boft.Experiments.Quality;

/// <summary>Dense row-major square-matrix helpers in double precision.</summary>
public static class DenseMatrix
{
    /// <summary>The d×d identity.</summary>
    /// <param name="d">Size.</param>
    /// <returns>A new matrix.</returns>
    public static double[] Identity(int d)
    {
        var m = new double[d * d];
        for (int i = 0; i < d; i++)
            m[i * d + i] = 1;
        return m;
    }

    /// <summary>A·B.</summary>
    /// <param name="a">Left factor, d×d.</param>
    /// <param name="b">Right factor, d×d.</param>
    /// <param name="d">Size.</param>
    /// <returns>A new matrix.</returns>
    public static double[] Multiply(double[] a, double[] b, int d)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var c = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int k = 0; k < d; k++)
            {
                double v = a[i * d + k];
                if (v == 0)
                    continue;
                for (int j = 0; j < d; j++)
                    c[i * d + j] += v * b[k * d + j];
            }
        return c;
    }

    /// <summary>Aᵀ.</summary>
    /// <param name="a">d×d.</param>
    /// <param name="d">Size.</param>
    /// <returns>A new matrix.</returns>
    public static double[] Transpose(double[] a, int d)
    {
        ArgumentNullException.ThrowIfNull(a);
        var t = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                t[j * d + i] = a[i * d + j];
        return t;
    }

    /// <summary>‖A‖_F.</summary>
    /// <param name="a">Any length.</param>
    /// <returns>The Frobenius norm.</returns>
    public static double Frobenius(ReadOnlySpan<double> a)
    {
        double s = 0;
        foreach (double v in a)
            s += v * v;
        return Math.Sqrt(s);
    }

    /// <summary>‖A − B‖_F.</summary>
    /// <param name="a">First.</param>
    /// <param name="b">Second, same length.</param>
    /// <returns>The Frobenius norm of the difference.</returns>
    public static double FrobeniusDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"a has {a.Length} elements but b has {b.Length}.", nameof(b));
        double s = 0;
        for (int i = 0; i < a.Length; i++)
            s += (a[i] - b[i]) * (a[i] - b[i]);
        return Math.Sqrt(s);
    }

    /// <summary>det(A) by LU with partial pivoting.</summary>
    /// <param name="a">n×n.</param>
    /// <param name="n">Size.</param>
    /// <returns>The determinant.</returns>
    public static double Determinant(ReadOnlySpan<double> a, int n)
    {
        double[] m = a.ToArray();
        double det = 1;
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++)
                if (Math.Abs(m[r * n + c]) > Math.Abs(m[p * n + c]))
                    p = r;
            if (m[p * n + c] == 0)
                return 0;
            if (p != c)
            {
                for (int j = 0; j < n; j++)
                    (m[p * n + j], m[c * n + j]) = (m[c * n + j], m[p * n + j]);
                det = -det;
            }
            double pivot = m[c * n + c];
            det *= pivot;
            for (int r = c + 1; r < n; r++)
            {
                double f = m[r * n + c] / pivot;
                if (f == 0)
                    continue;
                for (int j = c; j < n; j++)
                    m[r * n + j] -= f * m[c * n + j];
            }
        }
        return det;
    }

    /// <summary>exp(A) by scaling and squaring with a degree-18 Taylor series (accurate to double rounding for ‖A‖ ≤ a few).</summary>
    /// <param name="a">d×d.</param>
    /// <param name="d">Size.</param>
    /// <returns>A new matrix.</returns>
    public static double[] Exponential(double[] a, int d)
    {
        ArgumentNullException.ThrowIfNull(a);
        double norm = Frobenius(a);
        int squarings = norm > 0.5 ? (int)Math.Ceiling(Math.Log2(norm / 0.5)) : 0;
        double scale = Math.Pow(2, -squarings);
        double[] x = Array.ConvertAll(a, v => v * scale);
        double[] result = Identity(d), term = Identity(d);
        for (int k = 1; k <= 18; k++)
        {
            term = Multiply(term, x, d);
            for (int i = 0; i < term.Length; i++)
                term[i] /= k;
            for (int i = 0; i < term.Length; i++)
                result[i] += term[i];
        }
        for (int s = 0; s < squarings; s++)
            result = Multiply(result, result, d);
        return result;
    }

    /// <summary>Eigenvalues of a symmetric n×n matrix (cyclic Jacobi), ascending.</summary>
    /// <param name="symmetric">n×n, symmetric.</param>
    /// <param name="n">Size.</param>
    /// <returns>The eigenvalues.</returns>
    public static double[] SymmetricEigenvalues(ReadOnlySpan<double> symmetric, int n)
    {
        double[] a = symmetric.ToArray();
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++)
                    off += a[i * n + j] * a[i * n + j];
            if (off < 1e-30)
                break;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = a[p * n + q];
                    if (Math.Abs(apq) < 1e-300)
                        continue;
                    double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0)
                        t = 1;
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k * n + p], akq = a[k * n + q];
                        a[k * n + p] = c * akp - s * akq;
                        a[k * n + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p * n + k], aqk = a[q * n + k];
                        a[p * n + k] = c * apk - s * aqk;
                        a[q * n + k] = s * apk + c * aqk;
                    }
                }
        }
        var values = new double[n];
        for (int i = 0; i < n; i++)
            values[i] = a[i * n + i];
        Array.Sort(values);
        return values;
    }

    /// <summary>Singular values of an n×n matrix (square roots of the eigenvalues of MᵀM), ascending.</summary>
    /// <param name="m">n×n.</param>
    /// <param name="n">Size.</param>
    /// <returns>The singular values.</returns>
    public static double[] SingularValues(ReadOnlySpan<double> m, int n)
    {
        double[] a = m.ToArray();
        double[] gram = Multiply(Transpose(a, n), a, n);
        return Array.ConvertAll(SymmetricEigenvalues(gram, n), v => Math.Sqrt(Math.Max(v, 0)));
    }

    /// <summary>Spectral norm ‖A‖₂ (largest singular value).</summary>
    /// <param name="a">n×n.</param>
    /// <param name="n">Size.</param>
    /// <returns>The norm.</returns>
    public static double SpectralNorm(ReadOnlySpan<double> a, int n) => SingularValues(a, n)[^1];

    /// <summary>The Q factor of A = QR (modified Gram–Schmidt on the columns, R's diagonal made positive).</summary>
    /// <param name="a">n×n, full rank.</param>
    /// <param name="n">Size.</param>
    /// <returns>An orthogonal matrix.</returns>
    public static double[] OrthonormalColumns(double[] a, int n)
    {
        ArgumentNullException.ThrowIfNull(a);
        double[] q = (double[])a.Clone();
        for (int j = 0; j < n; j++)
        {
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < j; k++)
                {
                    double dot = 0;
                    for (int i = 0; i < n; i++)
                        dot += q[i * n + k] * q[i * n + j];
                    for (int i = 0; i < n; i++)
                        q[i * n + j] -= dot * q[i * n + k];
                }
            double norm = 0;
            for (int i = 0; i < n; i++)
                norm += q[i * n + j] * q[i * n + j];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < n; i++)
                q[i * n + j] /= norm;
        }
        return q;
    }
}
