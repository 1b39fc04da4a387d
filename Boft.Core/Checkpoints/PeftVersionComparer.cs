// The version test PEFT applies to an OFT adapter_config.json (huggingface/peft src/peft/tuners/oft/config.py,
// OFTConfig.check_kwargs, since v0.18.0):
//     peft_version = kwargs.get("peft_version", "0.0.0").partition("@")[0]
//     if packaging.version.Version(peft_version) < packaging.version.Version("0.18.0"): warn (old Neumann series)
// `peft_version` is written by PeftConfigMixin since 0.18.0 ("note: config.peft_version was added in 0.18.0, so if it's
// missing, it means we're below min version"); dev builds append "@<commit>" (config.py, _get_peft_version).
// This is the PEP 440 ordering that matters for that comparison: epoch, release (zero-padded), then pre-releases and
// dev releases before the release and post releases after it; local labels (+...) are ignored by "<".

using System.Globalization;
using System.Text.RegularExpressions;

namespace Boft.Checkpoints;

internal static partial class PeftVersionComparer
{
    /// <summary>Whether <paramref name="version"/> (a PEFT <c>peft_version</c> string, "@commit" allowed) is before <paramref name="release"/>.</summary>
    /// <returns>True when the version sorts before the release.</returns>
    /// <exception cref="FormatException">The string is not a PEP 440 version (PEFT fails with packaging's InvalidVersion).</exception>
    public static bool IsBefore(string version, int[] release)
    {
        string text = version.Split('@', 2)[0].Trim();
        Match match = Pep440().Match(text);
        if (!match.Success)
            throw new FormatException($"'{version}' is not a PEP 440 version.");
        int epoch = match.Groups["epoch"].Success ? int.Parse(match.Groups["epoch"].Value, CultureInfo.InvariantCulture) : 0;
        if (epoch != 0)
            return epoch < 0;
        int[] parts = match.Groups["release"].Value.Split('.').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        int length = Math.Max(parts.Length, release.Length);
        for (int i = 0; i < length; i++)
        {
            int left = i < parts.Length ? parts[i] : 0, right = i < release.Length ? release[i] : 0;
            if (left != right)
                return left < right;
        }
        // Same release number: X.Y.ZaN / X.Y.Z.devN < X.Y.Z <= X.Y.Z.postN (and X.Y.Z.postN.devM > X.Y.Z).
        bool pre = match.Groups["pre"].Success, post = match.Groups["post"].Success, dev = match.Groups["dev"].Success;
        return pre || (dev && !post);
    }

    [GeneratedRegex(
        @"^v?(?:(?<epoch>[0-9]+)!)?(?<release>[0-9]+(?:\.[0-9]+)*)" +
        @"(?<pre>[-_\.]?(?:alpha|a|beta|b|preview|pre|c|rc)[-_\.]?[0-9]*)?" +
        @"(?<post>(?:-[0-9]+)|(?:[-_\.]?(?:post|rev|r)[-_\.]?[0-9]*))?" +
        @"(?<dev>[-_\.]?dev[-_\.]?[0-9]*)?" +
        @"(?:\+[a-z0-9]+(?:[-_\.][a-z0-9]+)*)?$",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Pep440();
}
